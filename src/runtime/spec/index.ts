// runtime/spec: the OCI runtime spec (config.json) for one container, with Docker 20.10's
// default security profile (namespaces, capabilities, mounts, masked and read-only paths,
// device cgroup, seccomp). Resolve the user with resolveUser against the container's rootfs,
// then buildSpec; the result is written to the bundle and handed to runc.

export { buildSpec, containerEnv, DEFAULT_SHM_SIZE, INIT_PATH_IN_CONTAINER } from './build-spec.ts';
export type { NetworkMode, SpecOptions } from './build-spec.ts';
export { resolveUser } from './user.ts';
export type { ResolvedUser } from './user.ts';
export { probeHost } from './host.ts';
export type { HostFacts } from './host.ts';
export { DEFAULT_CAPABILITIES, resolveCapabilities } from './capabilities.ts';
export { convertSeccompProfile, DEFAULT_SECCOMP_PROFILE } from './seccomp.ts';
export type { SeccompProfile } from './seccomp.ts';
export type { OciSpec, OciProcess, OciMount, OciLinux, OciSeccomp } from './oci-spec.ts';
