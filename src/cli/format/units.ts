// Sizes, durations and container status text as docker prints them
// (github.com/docker/go-units size.go and duration.go; moby's State.String()).

import { formatFloat } from './gofmt.ts';

const DECIMAL = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'] as const;
const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'] as const;

function sizeAndUnit(size: number, base: number, units: readonly string[]): [number, string] {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return [size, units[i] ?? ''];
}

/** go-units HumanSizeWithPrecision: decimal units, `%.<precision>g` ("1.23MB", "1e+03kB"). */
export function humanSizeWithPrecision(size: number, precision: number): string {
  const [value, unit] = sizeAndUnit(size, 1000, DECIMAL);
  return formatFloat(value, 'g', precision) + unit;
}

/**
 * A size as docker ps/images/system df print it: go-units
 * HumanSizeWithPrecision(size, 3), e.g. "0B", "4.1kB", "1.23MB". (go-units'
 * own HumanSize uses 4 digits: humanSizeWithPrecision(size, 4).)
 */
export function humanSize(size: number): string {
  return humanSizeWithPrecision(size, 3);
}

/** go-units BytesSize: binary units, 4 significant digits ("1KiB", "1.5MiB"). */
export function bytesSize(size: number): string {
  const [value, unit] = sizeAndUnit(size, 1024, BINARY);
  return formatFloat(value, 'g', 4) + unit;
}

/** go-units HumanDuration of a duration in milliseconds ("About a minute", "3 days"). */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

export type TimeInput = Date | string | number | null | undefined;

// Go's zero time.Time is 0001-01-01T00:00:00Z; the API sends it for "never".
const GO_ZERO_TIME_MS = -62135596800000;

function toMs(t: TimeInput): number | undefined {
  if (t === null || t === undefined || t === '') return undefined;
  const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : Date.parse(t);
  return Number.isNaN(ms) || ms <= GO_ZERO_TIME_MS ? undefined : ms;
}

/**
 * "<duration> ago" for a past moment (docker's RunningFor and CreatedSince),
 * e.g. "3 seconds ago", "About a minute ago". `when` in epoch milliseconds
 * (the API's Created is in seconds: pass Created * 1000) or a Date or string.
 */
export function ago(when: Date | string | number, now: number = Date.now()): string {
  return humanDuration(now - (toMs(when) ?? 0)) + ' ago';
}

/** A container's state flags and times, as the engine records them. */
export interface ContainerStateInfo {
  readonly running: boolean;
  readonly paused?: boolean;
  readonly restarting?: boolean;
  readonly removalInProgress?: boolean;
  readonly dead?: boolean;
  readonly exitCode?: number;
  /** Absent, null, '' or Go's zero time mean never started. */
  readonly startedAt?: TimeInput;
  readonly finishedAt?: TimeInput;
  /** Health status when a healthcheck is configured; '' (monitor not yet running) reads as unhealthy. */
  readonly health?: string | null;
}

/**
 * The Status text of `docker ps` (moby daemon/container State.String()):
 * "Up 5 seconds", "Up 2 hours (Paused)", "Up 3 minutes (healthy)",
 * "Up 1 second (health: starting)", "Restarting (1) 2 seconds ago",
 * "Removal In Progress", "Dead", "Created", "Exited (0) 3 seconds ago".
 */
export function containerStatus(s: ContainerStateInfo, now: number = Date.now()): string {
  const since = (t: TimeInput): string => humanDuration(now - (toMs(t) ?? GO_ZERO_TIME_MS));
  const exitCode = s.exitCode ?? 0;
  if (s.running) {
    if (s.paused) return `Up ${since(s.startedAt)} (Paused)`;
    if (s.restarting) return `Restarting (${exitCode}) ${since(s.finishedAt)} ago`;
    if (s.health !== undefined && s.health !== null) {
      const h = s.health === '' ? 'unhealthy' : s.health === 'starting' ? 'health: starting' : s.health;
      return `Up ${since(s.startedAt)} (${h})`;
    }
    return `Up ${since(s.startedAt)}`;
  }
  if (s.removalInProgress) return 'Removal In Progress';
  if (s.dead) return 'Dead';
  if (toMs(s.startedAt) === undefined) return 'Created';
  if (toMs(s.finishedAt) === undefined) return '';
  return `Exited (${exitCode}) ${since(s.finishedAt)} ago`;
}

/** The State word of `docker ps` (moby State.State()): running, paused, restarting, removing, dead, created, exited. */
export function containerState(s: ContainerStateInfo): string {
  if (s.running) return s.paused ? 'paused' : s.restarting ? 'restarting' : 'running';
  if (s.removalInProgress) return 'removing';
  if (s.dead) return 'dead';
  return toMs(s.startedAt) === undefined ? 'created' : 'exited';
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * Go's time.Time.String() in the local zone, as docker's CreatedAt columns
 * print it: "2024-01-02 15:04:05 +0000 UTC" (fractional seconds only when
 * present). Zone abbreviations come from Intl, so zones Intl names "GMT+3"
 * print Go's "+03".
 */
export function goTimeString(when: Date | number): string {
  const d = typeof when === 'number' ? new Date(when) : when;
  const offset = -d.getTimezoneOffset();
  const abs = Math.abs(offset);
  const off = (offset < 0 ? '-' : '+') + pad2(Math.trunc(abs / 60)) + pad2(abs % 60);
  let zone: string;
  try {
    zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? '';
  } catch {
    zone = '';
  }
  const m = /^GMT([+-])(\d{1,2})(?::(\d\d))?$/.exec(zone);
  if (m) zone = offset === 0 ? 'UTC' : `${m[1]}${pad2(Number(m[2]))}${m[3] ?? ''}`;
  else if (zone === '') zone = offset === 0 ? 'UTC' : off;
  const ms = d.getMilliseconds();
  const frac = ms === 0 ? '' : '.' + String(ms).padStart(3, '0').replace(/0+$/, '');
  const date = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  return `${date} ${time}${frac} ${off} ${zone}`;
}
