/** The misbehaving builds live beside the packer (the testnet uses them too); tests import them here. */
export {
  type Build,
  type BuildOptions,
  FAULTS,
  type Fault,
  packBuild,
} from '../../src/adapters/build/faults.ts'
