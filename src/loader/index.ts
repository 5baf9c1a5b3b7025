// Typed API over the meshc native addon (native/, libbpf underneath): open and load BPF objects,
// adopt pinned maps, attach programs to cgroups as pinned links, read and write maps, run
// programs with BPF_PROG_TEST_RUN and consume ring buffers. One file per handle, as in native/src:
// object.ts, map.ts, program.ts, link.ts, ring-buffer.ts; cgroup.ts and bpffs.ts for what the
// kernel reports about cgroups and the bpf filesystem; addon.ts loads the addon; errors.ts.
//
// Ownership: every handle (BpfMap, BpfProgram, BpfLink, RingBuffer) owns its own file
// descriptor, closed by close() or, failing that, when the handle is garbage-collected. Closing
// a BpfObject also closes the map and program handles it handed out. A BpfLink that is neither
// pinned nor referenced detaches when collected: keep it, or pin it.
//
// Errors: kernel and libbpf failures throw BpfError ("map mc_services: update: E2BIG") with
// errno, code, op and object; a verifier rejection throws VerifierError with the full log.
// Expected conditions are values, not errors: lookup() of a missing key returns undefined,
// delete() returns false. Wrong argument types and sizes throw TypeError / RangeError.

export { BpfError, VerifierError, NativeAddonMissingError, NATIVE_ADDON_MISSING, isBpfError } from './errors.ts';
export { nativeAddonPath, isNativeAvailable, libbpfVersion, possibleCpus } from './addon.ts';
export { BpfObject, loadObject, type OpenOptions, type ProgramSpec, type MapSpec, type GlobalSpec } from './object.ts';
export { BpfMap, openPinnedMap, type MapInfo, type UpdateFlag, type BatchSupport } from './map.ts';
export { BpfProgram, openPinnedProgram, type ProgramInfo, type TestRunOptions, type TestRunResult } from './program.ts';
export { BpfLink, openPinnedLink, type LinkInfo } from './link.ts';
export { queryCgroup, cgroup2Mounts, CGROUP2_ROOT, type AttachedProgram } from './cgroup.ts';
export { isBpffs, mountBpffs, unpin } from './bpffs.ts';
export { RingBuffer, openRingBuffer, type RingBufferOptions } from './ring-buffer.ts';
