import type { Digest } from '../core/digest.ts';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** What the user asked for; fixed at create time (name aside). */
export interface ContainerConfig {
  readonly image: string; // as the user wrote it
  readonly imageId: Digest;
  readonly cmd: readonly string[] | null;
  readonly entrypoint: readonly string[] | null;
  readonly path: string;
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly workingDir: string;
  readonly user: string;
  readonly hostname: string;
  readonly domainname: string;
  readonly tty: boolean;
  readonly openStdin: boolean;
  readonly stdinOnce: boolean;
  readonly attachStdin: boolean;
  readonly attachStdout: boolean;
  readonly attachStderr: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly stopSignal?: string;
  readonly stopTimeout?: number;
  readonly exposedPorts: Readonly<Record<string, object>>;
  readonly volumes: Readonly<Record<string, object>>;
  readonly onBuild?: readonly string[];
}

export interface HostConfig {
  readonly autoRemove: boolean;
  readonly networkMode: string; // default | bridge | host | none | container:<id>
  readonly init: boolean;
  readonly privileged: boolean;
  readonly readonlyRootfs: boolean;
  readonly capAdd: readonly string[];
  readonly capDrop: readonly string[];
  readonly memory: number;
  readonly pidsLimit: number;
  readonly nanoCpus: number;
  readonly shmSize: number;
  readonly consoleSize?: readonly [number, number];
  readonly restartPolicy: { readonly name: string; readonly maximumRetryCount: number };
  /** Host directories mounted read-only (the builder's RUN heredoc scripts at /dev/pipes). */
  readonly readonlyBinds?: readonly { readonly source: string; readonly destination: string }[];
  readonly raw: Readonly<Record<string, unknown>>; // the wire HostConfig as sent, for inspect
}

export interface ContainerState {
  readonly status: ContainerStatus;
  readonly pid: number;
  readonly exitCode: number;
  readonly error: string;
  readonly startedAt: string; // '0001-01-01T00:00:00Z' when never
  readonly finishedAt: string;
  readonly oomKilled: boolean;
  readonly restartCount: number;
  /** conmon's pid while running */
  readonly monitorPid: number;
}

export interface ContainerRecord {
  readonly id: string;
  readonly name: string; // without leading slash
  readonly created: string;
  readonly config: ContainerConfig;
  readonly hostConfig: HostConfig;
  readonly state: ContainerState;
  /** the image's snapshot chain (top last) */
  readonly layers: readonly Digest[];
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export const initialState: ContainerState = {
  status: 'created',
  pid: 0,
  exitCode: 0,
  error: '',
  startedAt: ZERO_TIME,
  finishedAt: ZERO_TIME,
  oomKilled: false,
  restartCount: 0,
  monitorPid: 0,
};
