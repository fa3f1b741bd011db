/** The report outbox rule: a curable refusal keeps a report queued, up to 600 hand-overs. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { keepReport, MAX_REPORT_TRIES } from '../../src/core/rollout/outbox.ts'

describe('report outbox', () => {
  it('keeps a report a node may take later, for 600 hand-overs', () => {
    assert.equal(MAX_REPORT_TRIES, 600)
    assert.equal(keepReport(true, 1), true)
    assert.equal(keepReport(true, MAX_REPORT_TRIES - 1), true)
    assert.equal(keepReport(true, MAX_REPORT_TRIES), false, 'the 600th failure drops it')
  })

  it('drops a report at once when trying again cannot help', () => {
    assert.equal(keepReport(false, 1), false)
  })

  it('a report refused every time is handed over exactly 600 times', () => {
    let tries = 0
    let handed = 0
    for (;;) {
      handed++
      if (!keepReport(true, ++tries)) break
    }
    assert.equal(handed, MAX_REPORT_TRIES)
  })
})
