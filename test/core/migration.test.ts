/** The rules a migration keeps (core/shadow/migration.ts), in rehearsal and at a switch. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  judgeMigration,
  type MigrationRun,
  type NodeSelf,
  selfChanged,
} from '../../src/core/shadow/migration.ts'

const self: NodeSelf = { peerId: '12D3KooWA', floors: { stable: 7 }, unreadable: [] }
const clean: MigrationRun = { exitCode: 0, timedOut: false, elapsedMs: 120, lastLine: 'done' }
const limits = { deadlineMs: 120_000 }
const reason = (v: ReturnType<typeof judgeMigration>) => (v.ok ? 'ok' : v.reason)

describe('judging a migration', () => {
  it('passes one that ends in time, exits 0 and keeps what makes the node itself', () => {
    assert.equal(reason(judgeMigration('m', self, { ...self }, clean, limits)), 'ok')
    // The floor may rise, other channels may appear, data may change freely.
    const after = { ...self, floors: { stable: 9, beta: 1 } }
    assert.equal(reason(judgeMigration('m', self, after, clean, limits)), 'ok')
  })

  it('names each broken rule: hang, exit, budget, identity, floor, state files', () => {
    const j = (after: Partial<NodeSelf>, run: Partial<MigrationRun> = {}, l = {}) =>
      reason(
        judgeMigration(
          'the migration',
          self,
          { ...self, ...after },
          { ...clean, ...run },
          { ...limits, ...l },
        ),
      )
    assert.match(j({}, { timedOut: true, exitCode: null }), /did not end within 120000 ms/)
    assert.match(
      j({}, { timedOut: true, exitCode: null }, { deadlineMs: 3000, budgetMs: 3000 }),
      /longer than the release's downtime budget of 3000 ms/,
    )
    assert.match(
      j({}, { exitCode: 1, lastLine: 'cannot convert' }),
      /failed \(exit code 1\): cannot convert/,
    )
    assert.match(
      j({}, { elapsedMs: 9000 }, { budgetMs: 2000 }),
      /took 9000 ms, over the release's downtime budget of 2000 ms/,
    )
    assert.match(j({ peerId: undefined }), /removed or damaged the node identity/)
    assert.match(j({ peerId: '12D3KooWB' }), /changed the node identity/)
    assert.match(j({ floors: undefined }), /left trust\.json unreadable/)
    assert.match(
      j({ floors: { stable: 6 } }),
      /lowered the trust floor of channel stable \(sequence 7 -> 6\)/,
    )
    assert.match(
      j({ floors: {} }),
      /lowered the trust floor of channel stable \(sequence 7 -> none\)/,
    )
    assert.match(
      j({ unreadable: ['reporters.json'] }),
      /state files that no longer parse: reporters\.json/,
    )
  })

  it("a file already unreadable before is not the migration's fault; a node without a key yet has none to lose", () => {
    const before = { ...self, unreadable: ['old.json'] }
    assert.equal(reason(judgeMigration('m', before, { ...before }, clean, limits)), 'ok')
    const fresh: NodeSelf = { floors: {}, unreadable: [] }
    assert.equal(selfChanged(fresh, { floors: {}, unreadable: [] }), undefined)
  })

  it('never passes a run that timed out or exited non-zero, whatever the state', () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: -1, max: 255 }), { nil: null }),
        fc.boolean(),
        fc.nat(10_000),
        (exitCode, timedOut, elapsedMs) => {
          const v = judgeMigration(
            'm',
            self,
            self,
            { exitCode, timedOut, elapsedMs, lastLine: '' },
            limits,
          )
          assert.equal(v.ok, exitCode === 0 && !timedOut)
        },
      ),
    )
  })
})
