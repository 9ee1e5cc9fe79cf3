// Docker's wire shapes for containers, and the conversions at the boundary.
import { invalid } from '../../core/errors.ts';
import type { ContainerRecord, HostConfig } from '../../containers/types.ts';
import type { CreateOptions, ExecOptions } from '../../engine/container-service.ts';

type Json = Record<string, unknown>;

const strArr = (v: unknown, what: string): string[] | null => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  throw invalid(`json: cannot unmarshal ${typeof v} into Go struct field Config.${what} of type strslice.StrSlice`);
};
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const bool = (v: unknown): boolean => v === true;
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const record = (v: unknown): Record<string, string> => {
  if (typeof v !== 'object' || v === null) return {};
  return Object.fromEntries(Object.entries(v as Json).map(([k, x]) => [k, String(x)]));
};
const objRecord = (v: unknown): Record<string, object> => (typeof v === 'object' && v !== null ? (v as Record<string, object>) : {});

export function toHostConfig(h: Json): HostConfig {
  const rp = (h.RestartPolicy ?? {}) as Json;
  const cs = Array.isArray(h.ConsoleSize) && h.ConsoleSize.length === 2 ? ([num(h.ConsoleSize[0]), num(h.ConsoleSize[1])] as const) : undefined;
  const binds = h.Binds;
  if (Array.isArray(binds) && binds.length > 0) throw invalid('bind mounts are not supported yet');
  return {
    autoRemove: bool(h.AutoRemove),
    networkMode: str(h.NetworkMode) || 'default',
    init: bool(h.Init),
    privileged: bool(h.Privileged),
    readonlyRootfs: bool(h.ReadonlyRootfs),
    capAdd: strArr(h.CapAdd, 'CapAdd') ?? [],
    capDrop: strArr(h.CapDrop, 'CapDrop') ?? [],
    memory: num(h.Memory),
    pidsLimit: num(h.PidsLimit),
    nanoCpus: num(h.NanoCpus),
    shmSize: num(h.ShmSize),
    ...(cs && cs[0] > 0 ? { consoleSize: cs } : {}),
    restartPolicy: { name: str(rp.Name) || 'no', maximumRetryCount: num(rp.MaximumRetryCount) },
    raw: h,
  };
}

export function toCreateOptions(body: Json, name: string | undefined): CreateOptions {
  if (typeof body.Image !== 'string' || body.Image === '') throw invalid('Config cannot be empty in order to create a container');
  const env = strArr(body.Env, 'Env') ?? [];
  const stopTimeout = typeof body.StopTimeout === 'number' ? body.StopTimeout : undefined;
  return {
    ...(name ? { name } : {}),
    image: body.Image,
    cmd: strArr(body.Cmd, 'Cmd'),
    entrypoint: strArr(body.Entrypoint, 'Entrypoint'),
    env,
    workingDir: str(body.WorkingDir),
    user: str(body.User),
    hostname: str(body.Hostname),
    domainname: str(body.Domainname),
    tty: bool(body.Tty),
    openStdin: bool(body.OpenStdin),
    stdinOnce: bool(body.StdinOnce),
    attachStdin: bool(body.AttachStdin),
    attachStdout: bool(body.AttachStdout),
    attachStderr: bool(body.AttachStderr),
    labels: record(body.Labels),
    ...(typeof body.StopSignal === 'string' && body.StopSignal ? { stopSignal: body.StopSignal } : {}),
    ...(stopTimeout !== undefined ? { stopTimeout } : {}),
    exposedPorts: objRecord(body.ExposedPorts),
    volumes: objRecord(body.Volumes),
    hostConfig: toHostConfig((body.HostConfig ?? {}) as Json),
  };
}

export function toExecOptions(body: Json): ExecOptions {
  const cmd = strArr(body.Cmd, 'Cmd') ?? [];
  const cs = Array.isArray(body.ConsoleSize) && body.ConsoleSize.length === 2 ? ([num(body.ConsoleSize[0]), num(body.ConsoleSize[1])] as const) : undefined;
  return {
    cmd,
    env: strArr(body.Env, 'Env') ?? [],
    workingDir: str(body.WorkingDir),
    user: str(body.User),
    tty: bool(body.Tty),
    attachStdin: bool(body.AttachStdin),
    attachStdout: bool(body.AttachStdout),
    attachStderr: bool(body.AttachStderr),
    privileged: bool(body.Privileged),
    ...(typeof body.DetachKeys === 'string' ? { detachKeys: body.DetachKeys } : {}),
    ...(cs ? { consoleSize: cs } : {}),
  };
}

export function wireConfig(rec: ContainerRecord): Json {
  const c = rec.config;
  return {
    Hostname: c.hostname,
    Domainname: c.domainname,
    User: c.user,
    AttachStdin: c.attachStdin,
    AttachStdout: c.attachStdout,
    AttachStderr: c.attachStderr,
    ...(Object.keys(c.exposedPorts).length ? { ExposedPorts: c.exposedPorts } : {}),
    Tty: c.tty,
    OpenStdin: c.openStdin,
    StdinOnce: c.stdinOnce,
    Env: c.env,
    Cmd: c.cmd,
    Image: c.image,
    Volumes: Object.keys(c.volumes).length ? c.volumes : null,
    WorkingDir: c.workingDir,
    Entrypoint: c.entrypoint,
    OnBuild: null,
    Labels: c.labels,
    ...(c.stopSignal ? { StopSignal: c.stopSignal } : {}),
    ...(c.stopTimeout !== undefined ? { StopTimeout: c.stopTimeout } : {}),
  };
}

export function wireHostConfig(rec: ContainerRecord): Json {
  const h = rec.hostConfig;
  return {
    Binds: null,
    ContainerIDFile: '',
    LogConfig: { Type: 'k8s-file', Config: {} },
    NetworkMode: h.networkMode,
    PortBindings: {},
    RestartPolicy: { Name: h.restartPolicy.name, MaximumRetryCount: h.restartPolicy.maximumRetryCount },
    AutoRemove: h.autoRemove,
    VolumeDriver: '',
    VolumesFrom: null,
    ConsoleSize: h.consoleSize ? [...h.consoleSize] : [0, 0],
    CapAdd: h.capAdd.length ? h.capAdd : null,
    CapDrop: h.capDrop.length ? h.capDrop : null,
    CgroupnsMode: 'host',
    Dns: [],
    DnsOptions: [],
    DnsSearch: [],
    ExtraHosts: null,
    GroupAdd: null,
    IpcMode: 'private',
    Cgroup: '',
    Links: null,
    OomScoreAdj: 0,
    PidMode: '',
    Privileged: h.privileged,
    PublishAllPorts: false,
    ReadonlyRootfs: h.readonlyRootfs,
    SecurityOpt: null,
    UTSMode: '',
    UsernsMode: '',
    ShmSize: h.shmSize || 67108864,
    Runtime: 'runc',
    Isolation: '',
    CpuShares: 0,
    Memory: h.memory,
    NanoCpus: h.nanoCpus,
    CgroupParent: '',
    PidsLimit: h.pidsLimit || null,
    Init: h.init,
    MaskedPaths: h.privileged ? null : ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/proc/interrupts', '/sys/devices/virtual/powercap'],
    ReadonlyPaths: h.privileged ? null : ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
  };
}

export function wireState(rec: ContainerRecord): Json {
  const s = rec.state;
  return {
    Status: s.status,
    Running: s.status === 'running' || s.status === 'paused',
    Paused: s.status === 'paused',
    Restarting: s.status === 'restarting',
    OOMKilled: s.oomKilled,
    Dead: s.status === 'dead',
    Pid: s.pid,
    ExitCode: s.exitCode,
    Error: s.error,
    StartedAt: s.startedAt,
    FinishedAt: s.finishedAt,
  };
}

export function toContainerInspect(rec: ContainerRecord, paths: { dir: string; logPath: string; sizeRw?: number }): Json {
  return {
    Id: rec.id,
    Created: rec.created,
    Path: rec.config.path,
    Args: rec.config.args,
    State: wireState(rec),
    Image: rec.config.imageId,
    ResolvConfPath: `${paths.dir}/resolv.conf`,
    HostnamePath: `${paths.dir}/hostname`,
    HostsPath: `${paths.dir}/hosts`,
    LogPath: paths.logPath,
    Name: `/${rec.name}`,
    RestartCount: rec.state.restartCount,
    Driver: 'overlay',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: wireHostConfig(rec),
    GraphDriver: { Name: 'overlay', Data: { UpperDir: `${paths.dir}/upper`, WorkDir: `${paths.dir}/work`, MergedDir: `${paths.dir}/rootfs` } },
    ...(paths.sizeRw !== undefined ? { SizeRw: paths.sizeRw } : {}),
    Mounts: [],
    Config: wireConfig(rec),
    NetworkSettings: {
      Bridge: '',
      SandboxID: '',
      HairpinMode: false,
      Ports: {},
      SandboxKey: '',
      IPAddress: '',
      Gateway: '',
      MacAddress: '',
      Networks: {},
    },
  };
}

export function commandString(rec: ContainerRecord): string {
  // arguments with spaces are quoted, as Docker shows them (`sh -c 'exit 2'`)
  return [rec.config.path, ...rec.config.args].map((a) => (/\s/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a)).join(' ');
}

export function statusString(rec: ContainerRecord, now = Date.now()): string {
  const s = rec.state;
  const since = (iso: string): string => humanDuration(now - Date.parse(iso));
  switch (s.status) {
    case 'created':
      return 'Created';
    case 'running':
      return `Up ${since(s.startedAt)}`;
    case 'paused':
      return `Up ${since(s.startedAt)} (Paused)`;
    case 'restarting':
      return `Restarting (${s.exitCode}) ${since(s.finishedAt)} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    case 'exited':
      return s.finishedAt === '0001-01-01T00:00:00Z' ? 'Created' : `Exited (${s.exitCode}) ${since(s.finishedAt)} ago`;
  }
}

/** go-units HumanDuration */
export function humanDuration(ms: number): string {
  const sec = Math.round(ms / 1000);
  if (sec < 1) return 'Less than a second';
  if (sec === 1) return '1 second';
  if (sec < 60) return `${sec} seconds`;
  const min = Math.round(ms / 60000);
  if (min === 1) return 'About a minute';
  if (min < 60) return `${min} minutes`;
  const h = Math.round(ms / 3600000);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.round(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.round(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.round(h / 24 / 30)} months`;
  return `${Math.round(h / 24 / 365)} years`;
}

export function toContainerSummary(rec: ContainerRecord, imageName: string, sizeRw?: number): Json {
  return {
    Id: rec.id,
    Names: [`/${rec.name}`],
    Image: imageName,
    ImageID: rec.config.imageId,
    Command: commandString(rec),
    Created: Math.floor(Date.parse(rec.created) / 1000),
    Ports: [],
    Labels: rec.config.labels,
    State: rec.state.status,
    Status: statusString(rec),
    HostConfig: { NetworkMode: rec.hostConfig.networkMode },
    NetworkSettings: { Networks: {} },
    Mounts: [],
    ...(sizeRw !== undefined ? { SizeRw: sizeRw, SizeRootFs: sizeRw } : {}),
  };
}
