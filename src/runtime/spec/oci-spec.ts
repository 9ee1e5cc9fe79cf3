// The part of the OCI runtime spec (config.json, runtime-spec 1.0.2) that berth writes.
// Field names are the spec's own; optional fields are left out rather than set to empty.

export const OCI_VERSION = '1.0.2-dev';

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: OciLinux;
}

export interface OciProcess {
  terminal?: boolean;
  user: { uid: number; gid: number; additionalGids?: number[] };
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: OciCapabilities;
  rlimits?: OciRlimit[];
  noNewPrivileges?: boolean;
}

export interface OciCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface OciRlimit {
  type: string;
  soft: number;
  hard: number;
}

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export type OciNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';

export interface OciNamespace {
  type: OciNamespaceType;
  path?: string;
}

export interface OciDevice {
  type: 'c' | 'b' | 'u' | 'p';
  path: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciDeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  /** -1 or absent means any ("*") */
  major?: number;
  minor?: number;
  access?: string;
}

export interface OciResources {
  devices?: OciDeviceRule[];
  memory?: { limit?: number; swap?: number };
  cpu?: { quota?: number; period?: number };
  pids?: { limit: number };
}

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface OciSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: OciSyscall[];
}

export interface OciLinux {
  namespaces: OciNamespace[];
  devices: OciDevice[];
  resources: OciResources;
  cgroupsPath: string;
  sysctl?: Record<string, string>;
  seccomp?: OciSeccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
}
