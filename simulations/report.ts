/**
 * The four outputs of a run, as text: events.jsonl, timeseries.csv, summary.json and a
 * self-contained report.html (inline SVG charts and CSS, a few lines of inline script, no
 * external URL), plus the side-by-side page of `convoy sim compare`.
 *
 * Nothing here reads a clock: the same result renders to the same bytes.
 */
import type { ReleaseOutcome, SimResult, SimSummary } from './engine.ts'

/** events.jsonl: one JSON object per line. */
export function eventsJsonl(r: SimResult): string {
  return r.events.length === 0 ? '' : `${r.events.join('\n')}\n`
}

/** timeseries.csv: a header, then one row per sample. */
export function timeseriesCsv(r: SimResult): string {
  const lines = [r.columns.join(',')]
  for (const row of r.rows) lines.push(row.join(','))
  return `${lines.join('\n')}\n`
}

/** summary.json, pretty-printed. */
export function summaryJson(r: SimResult): string {
  return `${JSON.stringify(r.summary, null, 2)}\n`
}

// ---------------------------------------------------------------------------------- charts

const PALETTE = [
  '#4269d0',
  '#efb118',
  '#ff725c',
  '#6cc5b0',
  '#3ca951',
  '#ff8ab7',
  '#a463f2',
  '#97bbf5',
  '#9c6b4e',
  '#9498a0',
]

interface Series {
  name: string
  values: number[]
  color: string
  dash?: boolean
}

interface ChartOptions {
  title: string
  /** x values, hours. */
  x: number[]
  series: Series[]
  yLabel: string
  stacked?: boolean
  /** Vertical markers: x in hours. */
  markers?: Array<{ x: number; label: string }>
  /** Horizontal reference lines. */
  rules?: Array<{ y: number; label: string }>
  yMax?: number
  percent?: boolean
}

function esc(s: string): string {
  return s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
}

function niceStep(range: number, ticks: number): number {
  if (range <= 0) return 1
  const raw = range / ticks
  const mag = 10 ** Math.floor(Math.log10(raw))
  const n = raw / mag
  const m = n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10
  return m * mag
}

function fmt(n: number): string {
  if (Math.abs(n) >= 1e6) return `${+(n / 1e6).toFixed(2)}M`
  if (Math.abs(n) >= 1e4) return `${+(n / 1e3).toFixed(1)}k`
  return `${+n.toFixed(2)}`
}

/** Reduces a series to at most `max` points, keeping each bucket's largest value (peaks survive). */
function downsample(x: number[], ys: number[][], max: number): { x: number[]; ys: number[][] } {
  if (x.length <= max) return { x, ys }
  const size = Math.ceil(x.length / max)
  const ox: number[] = []
  const oys = ys.map(() => [] as number[])
  for (let i = 0; i < x.length; i += size) {
    const end = Math.min(x.length, i + size)
    ox.push(x[end - 1]!)
    ys.forEach((y, k) => {
      let m = Number.NEGATIVE_INFINITY
      for (let j = i; j < end; j++) m = Math.max(m, y[j]!)
      oys[k]!.push(m)
    })
  }
  return { x: ox, ys: oys }
}

let chartCounter = 0

/** An SVG chart; time on x (hours, or days past 72 h). */
function chart(o: ChartOptions): string {
  const W = 640
  const H = 270
  const L = 60
  const Rm = 14
  const T = 34
  const B = 40
  const pw = W - L - Rm
  const ph = H - T - B
  const id = `c${++chartCounter}`
  const d = downsample(
    o.x,
    o.series.map((s) => s.values),
    600,
  )
  const xs = d.x
  let ys = d.ys
  if (o.stacked) {
    const acc = xs.map(() => 0)
    ys = ys.map((y) => y.map((v, i) => (acc[i]! += v)))
  }
  const xMax = Math.max(xs.at(-1) ?? 1, 1e-9)
  let yMax = o.yMax ?? 0
  if (o.yMax === undefined) for (const y of ys) for (const v of y) yMax = Math.max(yMax, v)
  if (yMax <= 0) yMax = 1
  const yStep = niceStep(yMax, 5)
  yMax = Math.ceil(yMax / yStep - 1e-9) * yStep
  const days = xMax > 72
  // A real testnet runs for minutes: its axis reads in seconds or minutes, not 0.01 h.
  const short = xMax < 0.05 ? 'seconds' : xMax < 2 ? 'minutes' : undefined
  const xUnit = days ? 24 : short === 'seconds' ? 1 / 3600 : short === 'minutes' ? 1 / 60 : 1
  const xStep = niceStep(xMax / xUnit, 8) * xUnit
  const px = (x: number) => (L + (x / xMax) * pw).toFixed(1)
  const py = (y: number) => (T + ph - (y / yMax) * ph).toFixed(1)
  const parts: string[] = []
  parts.push(
    `<svg class="chart" id="${id}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`,
  )
  parts.push(`<text x="${L}" y="16" class="title">${esc(o.title)}</text>`)
  // Grid and axes.
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    parts.push(
      `<line x1="${L}" x2="${W - Rm}" y1="${py(y)}" y2="${py(y)}" class="grid"/><text x="${L - 6}" y="${(+py(y) + 4).toFixed(1)}" class="tick" text-anchor="end">${o.percent ? `${Math.round(y * 100)}%` : fmt(y)}</text>`,
    )
  }
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    parts.push(
      `<line x1="${px(x)}" x2="${px(x)}" y1="${T}" y2="${T + ph}" class="grid"/><text x="${px(x)}" y="${T + ph + 16}" class="tick" text-anchor="middle">${fmt(x / xUnit)}</text>`,
    )
  }
  parts.push(
    `<text x="${L + pw / 2}" y="${H - 4}" class="axis" text-anchor="middle">${days ? 'days' : (short ?? 'hours')} since start</text>`,
  )
  parts.push(
    `<text x="12" y="${T + ph / 2}" class="axis" text-anchor="middle" transform="rotate(-90 12 ${T + ph / 2})">${esc(o.yLabel)}</text>`,
  )
  for (const r of o.rules ?? []) {
    parts.push(
      `<line x1="${L}" x2="${W - Rm}" y1="${py(r.y)}" y2="${py(r.y)}" class="rule"/><text x="${W - Rm - 2}" y="${(+py(r.y) - 3).toFixed(1)}" class="tick" text-anchor="end">${esc(r.label)}</text>`,
    )
  }
  // Series, last first when stacked so the lower bands paint on top.
  const order = o.series.map((_, k) => k)
  if (o.stacked) order.reverse()
  for (const k of order) {
    const s = o.series[k]!
    const y = ys[k]!
    if (xs.length === 0) continue
    let path = `M${px(xs[0]!)} ${py(y[0]!)}`
    for (let i = 1; i < xs.length; i++) path += `L${px(xs[i]!)} ${py(y[i]!)}`
    if (o.stacked) {
      const area = `${path}L${px(xs.at(-1)!)} ${py(0)}L${px(xs[0]!)} ${py(0)}Z`
      parts.push(
        `<path d="${area}" fill="${s.color}" fill-opacity="0.85" stroke="${s.color}" data-series="${k}"><title>${esc(s.name)}</title></path>`,
      )
    } else {
      parts.push(
        `<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ' stroke-dasharray="5 3"' : ''} data-series="${k}"><title>${esc(s.name)}</title></path>`,
      )
    }
  }
  for (const m of o.markers ?? []) {
    parts.push(
      `<line x1="${px(m.x)}" x2="${px(m.x)}" y1="${T}" y2="${T + ph}" class="marker"/><text x="${(+px(m.x) + 3).toFixed(1)}" y="${T + 10}" class="tick">${esc(m.label)}</text>`,
    )
  }
  parts.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" class="frame"/>`)
  parts.push('</svg>')
  const legend = o.series
    .map(
      (s, k) =>
        `<button type="button" class="key" data-chart="${id}" data-series="${k}"><span style="background:${s.color}"></span>${esc(s.name)}</button>`,
    )
    .join('')
  return `<figure>${parts.join('')}<figcaption class="legend">${legend}</figcaption></figure>`
}

// ---------------------------------------------------------------------------------- pages

function col(r: SimResult, name: string): number[] {
  const k = r.columns.indexOf(name)
  return k < 0 ? r.rows.map(() => 0) : r.rows.map((row) => row[k]!)
}

function hoursText(h: number | null): string {
  if (h === null) return 'never'
  if (h < 1 / 30) return `${Math.round(h * 3600)} s`
  if (h < 1) return `${(h * 60).toFixed(1)} min`
  return h >= 48 ? `${(h / 24).toFixed(1)} d` : `${h.toFixed(1)} h`
}

function charts(r: SimResult): string {
  const s = r.summary
  const x = col(r, 't_hours')
  const markers = s.releases.map((rel) => ({ x: rel.publishedAtHours, label: rel.version }))
  const versions = r.columns.filter((c) => /^v\d/.test(c))
  const out: string[] = []
  out.push(
    chart({
      title: 'Online nodes per running version',
      x,
      yLabel: 'nodes',
      stacked: true,
      markers,
      series: versions.map((v, k) => {
        const rel = s.releases.find((x) => `v${x.version}` === v)
        const bad = rel !== undefined && rel.quality !== 'good'
        return {
          name: `${v.slice(1)}${bad ? ` (${rel!.quality})` : ''}`,
          values: col(r, v),
          color: PALETTE[k % PALETTE.length]!,
        }
      }),
    }),
  )
  const phases: Array<[string, string]> = [
    ['shadow', 'shadow-running'],
    ['scheduled', 'scheduled (waiting for slot or evidence)'],
    ['probation', 'on probation'],
    ['halted', 'halted by evidence'],
    ['bad', 'version marked bad'],
    ['rolled_back', 'rolling back'],
  ]
  out.push(
    chart({
      title: 'Where the machines are',
      x,
      yLabel: 'nodes',
      markers,
      series: phases.map(([c, name], k) => ({
        name,
        values: col(r, c),
        color: PALETTE[(k + 2) % PALETTE.length]!,
      })),
    }),
  )
  out.push(
    chart({
      title: 'Risk: bad releases, version skew, rollbacks',
      x,
      yLabel: 'nodes / count',
      markers,
      series: [
        { name: 'nodes on a bad release', values: col(r, 'on_bad_release'), color: PALETTE[2]! },
        {
          name: 'deranked (more than 1 release behind)',
          values: col(r, 'deranked'),
          color: PALETTE[6]!,
        },
        {
          name: 'rollbacks (cumulative)',
          values: col(r, 'rollbacks'),
          color: PALETTE[0]!,
          dash: true,
        },
        { name: 'eclipse suspected', values: col(r, 'eclipse_suspected'), color: PALETTE[4]! },
      ],
    }),
  )
  const online = col(r, 'online')
  const adoption: Series[] = []
  s.releases.forEach((rel, k) => {
    const idx = versions.indexOf(`v${rel.version}`)
    const on = versions.slice(idx).map((v) => col(r, v))
    adoption.push({
      name: `${rel.version} or newer`,
      values: online.map((n, i) => (n === 0 ? 0 : on.reduce((a, c) => a + c[i]!, 0) / n)),
      color: PALETTE[(k + 1) % PALETTE.length]!,
    })
  })
  out.push(
    chart({
      title: 'Adoption: share of online nodes',
      x,
      yLabel: 'share',
      percent: true,
      yMax: 1,
      markers,
      rules: [
        { y: 0.5, label: '50%' },
        { y: 0.9, label: '90%' },
        { y: 0.99, label: '99%' },
      ],
      series: adoption,
    }),
  )
  return out.join('\n')
}

function releaseTable(s: SimSummary): string {
  const head =
    '<tr><th>release</th><th>quality</th><th>published</th><th>50% / 90% / 99% of auto nodes</th><th>final share</th><th>most nodes on it</th><th>switches</th><th>rollbacks</th><th>reporters pass / fail</th><th>halted</th></tr>'
  const rows = s.releases.map((r: ReleaseOutcome) => {
    const t = Object.values(r.autoUpgradeHours).map(hoursText).join(' / ')
    return `<tr><td>${esc(r.version)}</td><td>${esc(r.quality)}</td><td>${hoursText(r.publishedAtHours)}</td><td>${t}</td><td>${(r.finalShare * 100).toFixed(1)}%</td><td>${r.mostNodesOn}</td><td>${r.switches}</td><td>${r.rollbacks}</td><td>${r.reporters.passing} / ${r.reporters.failing}</td><td>${r.haltedRegions > 0 ? `after ${hoursText(r.firstHaltAtHours)}, ${r.haltedRegions} region(s)` : 'no'}</td></tr>`
  })
  return `<div class="scroll"><table>${head}${rows.join('')}</table></div>`
}

function factsTable(s: SimSummary): string {
  const rows: Array<[string, string]> = [
    ['nodes', String(s.nodes)],
    ['seed', String(s.seed)],
    ['policy', esc(s.policyName)],
    [
      'most nodes on a bad release',
      `${s.mostNodesOnBadRelease.nodes} (${(s.mostNodesOnBadRelease.share * 100).toFixed(2)}%)`,
    ],
    ['rollbacks / reinstalls', `${s.rollbacks} / ${s.reinstalls}`],
    [
      'deranked by version skew (max / end)',
      `${s.versionSkew.derankedMax} / ${s.versionSkew.derankedFinal}`,
    ],
    ['below the latest minVersion at the end', String(s.versionSkew.strandedFinal)],
    [
      'eclipsed: suspected / escaped / unnoticed / behind at the end',
      `${s.eclipse.eclipsed}: ${s.eclipse.suspected} / ${s.eclipse.escapedNodes} / ${s.eclipse.unnoticed} / ${s.eclipse.behindAtEnd}`,
    ],
    ['false failure reports', String(s.falseReports)],
    [
      'version liars (ranked unverified / suspicious / deranked)',
      `${s.versionLiars.count} (${s.versionLiars.ranks.unverified} / ${s.versionLiars.ranks.suspicious} / ${s.versionLiars.ranks.deranked})`,
    ],
    ['churn: leaves / departures', `${s.churn.leaves} / ${s.churn.departures}`],
    ['simulated events / machine steps', `${s.engine.events} / ${s.engine.machineSteps}`],
  ]
  return `<table class="facts">${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>`
}

function calibrationTable(s: SimSummary): string {
  if (s.calibration.length === 0) return ''
  const pc = (x: number | null) => (x === null ? '' : `${(x * 100).toFixed(1)}%`)
  const rows = s.calibration.map(
    (c) =>
      `<tr><td>${esc(c.label)}</td><td>${c.afterDays} d after ${esc(c.release)}</td><td>${pc(c.expected)}</td><td>${pc(c.measured)}</td><td>${c.tolerance === null ? '' : `&plusmn;${(c.tolerance * 100).toFixed(1)} pp`}</td><td class="${c.ok === false ? 'off' : 'ok'}">${c.ok === null ? 'measured' : c.ok ? 'within' : 'outside'}</td></tr>`,
  )
  return `<h2>Checkpoints</h2><table><tr><th>figure</th><th>measured at</th><th>published</th><th>simulated (share of online nodes on the release or newer)</th><th>tolerance</th><th></th></tr>${rows.join('')}</table>`
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d1d1f;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}h3{font-size:15px;margin:18px 0 6px}
p.lead{color:#555;margin:0 0 16px;max-width:960px}
table{border-collapse:collapse;margin:8px 0 16px;background:#fff}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f3;font-weight:600}table.facts th{width:340px}
.grid{stroke:#e6e6e6}.frame{fill:none;stroke:#999}.rule{stroke:#888;stroke-dasharray:2 3}.marker{stroke:#555;stroke-dasharray:4 3}
.title{font-size:14px;font-weight:600;fill:#222}.tick{font-size:10px;fill:#555}.axis{font-size:11px;fill:#333}
figure{margin:0 0 18px;background:#fff;border:1px solid #e3e3e3;padding:8px;display:inline-block;vertical-align:top}
.legend{display:flex;flex-wrap:wrap;gap:4px 10px;max-width:640px;font-size:12px}
.key{border:0;background:none;padding:0;font:inherit;cursor:pointer;display:flex;align-items:center;gap:4px}
.key span{width:12px;height:12px;display:inline-block;border-radius:2px}.key.off{opacity:.35}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(660px,1fr));gap:16px}.cols>section{min-width:0}
.scroll{overflow-x:auto;max-width:100%}
.ok{color:#17692b;font-weight:600}.off{color:#a3251b;font-weight:600}
.note{color:#555;max-width:960px}
`

/** Clicking a legend key hides or shows its series; the page marks itself ready for tests. */
const SCRIPT = `
(function(){
  var keys=document.querySelectorAll('button.key');
  for(var i=0;i<keys.length;i++){keys[i].addEventListener('click',function(e){
    var b=e.currentTarget,svg=document.getElementById(b.getAttribute('data-chart'));
    var p=svg.querySelectorAll('[data-series="'+b.getAttribute('data-series')+'"]');
    var off=b.classList.toggle('off');
    for(var j=0;j<p.length;j++)p[j].style.display=off?'none':'';
  });}
  document.body.setAttribute('data-charts',String(document.querySelectorAll('svg.chart').length));
  document.body.setAttribute('data-ready','yes');
})();
`

const HOW_TO_READ = `<h2>How to read this report</h2>
<p class="note">Every node runs convoy's shipped rollout state machine on a virtual clock; the network,
operators, faults and attackers around it are modelled (docs/simulations.md). <b>Online nodes per
running version</b> stacks what online nodes run; dashed lines mark when maintainers published each
release. <b>Where the machines are</b> counts nodes by rollout phase (online or not): nodes wait in
<i>scheduled</i> for their slot, and non-canaries also for good evidence. <b>Risk</b> shows nodes on a release
whose quality is not good, nodes deranked for running more than one signed release behind, cumulative
rollbacks, and eclipsed nodes that suspect it. <b>Adoption</b> is the share of online nodes on each release
or a newer one. "50% / 90% / 99% of auto nodes" counts online nodes with auto-upgrade on, from the moment the
release was published. Click a legend entry to hide or show its line.</p>`

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body>
${body}
<script>${SCRIPT}</script>
</body></html>
`
}

/** report.html of one run. */
export function reportHtml(r: SimResult): string {
  chartCounter = 0
  const s = r.summary
  const body = `<h1>convoy simulation: ${esc(s.scenario)}</h1>
<p class="lead">${esc(s.description)} ${s.nodes} nodes, ${hoursText(s.durationHours)}, seed ${s.seed}, policy ${esc(s.policyName)}.</p>
${factsTable(s)}
<h2>Releases</h2>
${releaseTable(s)}
${calibrationTable(s)}
<h2>Charts</h2>
<div class="cols">${charts(r)}</div>
${HOW_TO_READ}`
  return page(`convoy sim: ${s.scenario}`, body)
}

/** One row per policy of `sim compare`. */
export interface ComparisonRow {
  policy: string
  windowHours: number
  canaryFraction: number
  shadowSeconds: number
  probationSeconds: number
  minPassReports: number
  maxFailureShare: number
  haltFailureShare: number
  haltMinFailures: number
  /** Per release: hours to 50/90/99% of auto-upgrading nodes. */
  releases: Array<{
    version: string
    quality: string
    autoUpgradeHours: Record<string, number | null>
    halted: boolean
  }>
  mostNodesOnBadRelease: number
  rollbacks: number
  derankedMax: number
}

/** The comparison table's rows. */
export function comparisonRows(results: SimResult[]): ComparisonRow[] {
  return results.map((r) => {
    const s = r.summary
    return {
      policy: s.policyName,
      windowHours: s.policy.windowSeconds / 3600,
      canaryFraction: s.policy.canaryFraction,
      shadowSeconds: s.policy.shadowSeconds,
      probationSeconds: s.policy.probationSeconds,
      minPassReports: s.policy.minPassReports,
      maxFailureShare: s.policy.maxFailureShare,
      haltFailureShare: s.policy.haltFailureShare,
      haltMinFailures: s.policy.haltMinFailures,
      releases: s.releases.map((x) => ({
        version: x.version,
        quality: x.quality,
        autoUpgradeHours: x.autoUpgradeHours,
        halted: x.haltedRegions > 0,
      })),
      mostNodesOnBadRelease: s.mostNodesOnBadRelease.nodes,
      rollbacks: s.rollbacks,
      derankedMax: s.versionSkew.derankedMax,
    }
  })
}

/** summary.json of `sim compare`. */
export function compareSummaryJson(results: SimResult[]): string {
  const first = results[0]!.summary
  return `${JSON.stringify(
    {
      scenario: first.scenario,
      seed: first.seed,
      policies: results.map((r) => r.summary.policyName),
      comparison: comparisonRows(results),
      summaries: results.map((r) => r.summary),
    },
    null,
    2,
  )}\n`
}

/** report.html of `sim compare`: a comparison table, then each policy's charts side by side. */
export function compareHtml(results: SimResult[]): string {
  chartCounter = 0
  const first = results[0]!.summary
  const rows = comparisonRows(results)
  const releases = first.releases
  const head = `<tr><th>policy</th><th>window</th><th>canaries</th><th>shadow</th><th>probation</th><th>min passes</th><th>max fail share</th><th>halt share / min</th>${releases.map((r) => `<th>${esc(r.version)} (${esc(r.quality)}): 50 / 90 / 99%</th>`).join('')}<th>most on a bad release</th><th>rollbacks</th><th>deranked (max)</th></tr>`
  const body = rows
    .map(
      (c) =>
        `<tr><td>${esc(c.policy)}</td><td>${c.windowHours} h</td><td>${(c.canaryFraction * 100).toFixed(1)}%</td><td>${c.shadowSeconds} s</td><td>${c.probationSeconds} s</td><td>${c.minPassReports}</td><td>${(c.maxFailureShare * 100).toFixed(0)}%</td><td>${(c.haltFailureShare * 100).toFixed(0)}% / ${c.haltMinFailures}</td>${c.releases.map((r) => `<td>${Object.values(r.autoUpgradeHours).map(hoursText).join(' / ')}${r.halted ? ' (halted)' : ''}</td>`).join('')}<td>${c.mostNodesOnBadRelease}</td><td>${c.rollbacks}</td><td>${c.derankedMax}</td></tr>`,
    )
    .join('')
  const sections = results
    .map(
      (r) =>
        `<section><h2>Policy: ${esc(r.summary.policyName)}</h2>${factsTable(r.summary)}${releaseTable(r.summary)}${charts(r)}</section>`,
    )
    .join('\n')
  const html = `<h1>convoy simulation: ${esc(first.scenario)}, ${results.length} policies compared</h1>
<p class="lead">${esc(first.description)} ${first.nodes} nodes, seed ${first.seed}. Every policy runs on the same network, operators, faults and churn (the same seed draws the same dice for each node), so differences come from the policy.</p>
<h2>Comparison</h2>
<div class="scroll"><table>${head}${body}</table></div>
<div class="cols">${sections}</div>
${HOW_TO_READ}`
  return page(`convoy sim compare: ${first.scenario}`, html)
}
