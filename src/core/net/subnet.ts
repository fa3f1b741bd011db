/**
 * The subnet an address belongs to, for counting reporters per network rather than per key:
 * an IPv4 /24 or an IPv6 /48, the blocks one operator most cheaply holds many addresses in.
 * Loopback is no subnet (a testnet on one machine is many nodes, not one operator's Sybils) and
 * neither is anything that does not parse: the caller then has no address to group by.
 */

/** The /24 or /48 of `ip` ("203.0.113.0/24", "2001:db8:1::/48"), or undefined. */
export function subnetOf(ip: string): string | undefined {
  if (typeof ip !== 'string' || ip.length > 64) return undefined
  const v4 = ipv4(ip)
  if (v4 !== undefined) return v4[0] === 127 ? undefined : `${v4[0]}.${v4[1]}.${v4[2]}.0/24`
  const v6 = ipv6(ip)
  if (v6 === undefined) return undefined
  // ::1, and IPv4 mapped into IPv6 (::ffff:a.b.c.d) counted as the IPv4 it is.
  if (v6.slice(0, 7).every((g) => g === 0) && v6[7] === 1) return undefined
  if (v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff) {
    const a = v6[6]!
    const b = v6[7]!
    return subnetOf(`${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`)
  }
  return `${v6[0]!.toString(16)}:${v6[1]!.toString(16)}:${v6[2]!.toString(16)}::/48`
}

function ipv4(ip: string): number[] | undefined {
  const parts = ip.split('.')
  if (parts.length !== 4) return undefined
  const out: number[] = []
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined
    const n = Number(p)
    if (n > 255) return undefined
    out.push(n)
  }
  return out
}

function ipv6(ip: string): number[] | undefined {
  const zone = ip.indexOf('%')
  const addr = zone === -1 ? ip : ip.slice(0, zone)
  const halves = addr.split('::')
  if (halves.length > 2) return undefined
  const groups = (s: string): number[] | undefined => {
    if (s === '') return []
    const out: number[] = []
    const parts = s.split(':')
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = ipv4(p)
        if (v4 === undefined) return undefined
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(Number.parseInt(p, 16))
      else return undefined
    }
    return out
  }
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  if (head === undefined || tail === undefined) return undefined
  if (halves.length === 1) return head.length === 8 ? head : undefined
  const gap = 8 - head.length - tail.length
  if (gap < 1) return undefined
  return [...head, ...new Array<number>(gap).fill(0), ...tail]
}
