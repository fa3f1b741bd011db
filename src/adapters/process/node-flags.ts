/**
 * The V8 flags every node process the supervisor starts runs with: the live node and its
 * shadow alike, so that the shadow's memory is measured against a live node that runs the
 * same way. A memory budget for the process, measured by the flood suite (test/flood,
 * docs/benchmarks.md):
 *
 * - `--max-semi-space-size=2` (MiB): V8's young generation grows to 16 MiB a semi-space by
 *   default, and a node flooded by peers allocates fast (transport buffers, decrypted frames,
 *   upload chunks). Most of it is garbage at once but is freed only when the young generation
 *   is scavenged; small semi-spaces scavenge often and free it at once.
 * - `--max-old-space-size=384` (MiB): without a limit V8 sizes the old generation from the
 *   machine's memory (several GiB here) and lets it grow far past what the node holds. The
 *   node holds about 40 to 50 MB under a flood (a heap snapshot after a full collection:
 *   48 MB); its bounded state (reports: 8 releases x 4,096 reporters; peers, budgets, records)
 *   fits well under 384 MiB.
 *
 * Measured with 24 hostile peers for 60 s: honest nodes' RSS grew by 135 to 200 MiB with
 * neither flag, and by 38 to 72 MiB over ten runs with both (and yamux's window capped:
 * node-assemble.ts, and uploads that wait for their write buffer: artifact-upload.ts). CPU
 * time was no higher. A node started by hand (`convoy node start`) gets them by `NODE_OPTIONS`, as
 * docs/node-runners.md says.
 */
export const NODE_PROCESS_FLAGS: readonly string[] = [
  '--max-semi-space-size=2',
  '--max-old-space-size=384',
]
