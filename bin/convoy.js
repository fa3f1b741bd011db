#!/usr/bin/env node
// Entry point. convoy is TypeScript run by Node's type stripping: Node 22.18+ or 24 LTS.
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `convoy: needs Node 22.12 or newer (24 LTS recommended); this is ${process.version}. Run it through npm (\`npx convoy\`) to use the pinned Node.\n`,
  )
  process.exit(1)
}
if (!process.features.typescript) {
  process.stderr.write(
    'convoy: this Node cannot run TypeScript; use Node 22.18+ or 24, or pass --experimental-strip-types\n',
  )
  process.exit(1)
}
const { main } = await import('../src/cli/main.ts')
await main()
