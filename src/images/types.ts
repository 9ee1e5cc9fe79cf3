import type { Digest } from '../core/digest.ts';

/** The runnable part of an OCI image config (`config` in image-spec-config.md). */
export interface ImageRunConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  OnBuild?: string[];
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number };
  Shell?: string[];
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  config?: ImageRunConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean; author?: string }[];
}

export interface LayerInfo {
  readonly diffId: Digest;
  readonly chainId: Digest;
  readonly size: number;
}

/** What berth keeps about an image; the ID is the config's digest. */
export interface ImageRecord {
  readonly id: Digest;
  readonly config: ImageConfig;
  readonly layers: readonly LayerInfo[];
  readonly size: number;
  readonly created: string;
  readonly parent?: Digest;
}
