// Value checks of EXPOSE and STOPSIGNAL, with Docker's rules and messages (moby's
// parsePortSpec, moby/sys/signal.ParseSignal).

const LINUX_SIGNALS: Record<string, number> = {
  ABRT: 6,
  ALRM: 14,
  BUS: 7,
  CHLD: 17,
  CLD: 17,
  CONT: 18,
  FPE: 8,
  HUP: 1,
  ILL: 4,
  INT: 2,
  IO: 29,
  IOT: 6,
  KILL: 9,
  PIPE: 13,
  POLL: 29,
  PROF: 27,
  PWR: 30,
  QUIT: 3,
  SEGV: 11,
  STKFLT: 16,
  STOP: 19,
  SYS: 31,
  TERM: 15,
  TRAP: 5,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  USR1: 10,
  USR2: 12,
  VTALRM: 26,
  WINCH: 28,
  XCPU: 24,
  XFSZ: 25,
  RTMIN: 34,
  RTMAX: 64,
};
for (let i = 1; i <= 15; i++) LINUX_SIGNALS[`RTMIN+${i}`] = 34 + i;
for (let i = 1; i <= 14; i++) LINUX_SIGNALS[`RTMAX-${i}`] = 64 - i;

/** The signal number of `SIGTERM`, `TERM`, `15`; throws Docker's "Invalid signal: X". */
export function parseSignal(raw: string): number {
  if (/^[+-]?\d+$/.test(raw)) {
    const n = Number(raw);
    if (n === 0) throw new Error(`Invalid signal: ${raw}`);
    return n;
  }
  const upper = raw.toUpperCase();
  const n = LINUX_SIGNALS[upper.startsWith('SIG') ? upper.slice(3) : upper];
  if (n === undefined) throw new Error(`Invalid signal: ${raw}`);
  return n;
}

function parsePortRange(s: string): [number, number] | undefined {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (m === null) return undefined;
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start > 65535 || end > 65535 || end < start) return undefined;
  return [start, end];
}

/**
 * The exposed-port keys (`80/tcp`) of EXPOSE values (`80`, `8000-8002/udp`,
 * `127.0.0.1:8080:80`). Throws Docker's messages.
 */
export function exposedPortsOf(specs: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of specs) {
    const parts = raw.split(':');
    let hostPort = '';
    let containerPart: string;
    if (parts.length === 1) containerPart = parts[0]!;
    else if (parts.length === 2) [hostPort, containerPart] = [parts[0]!, parts[1]!];
    else [hostPort, containerPart] = [parts[parts.length - 2]!, parts[parts.length - 1]!];
    const slash = containerPart.indexOf('/');
    const port = slash === -1 ? containerPart : containerPart.slice(0, slash);
    let proto = slash === -1 ? '' : containerPart.slice(slash + 1);
    if (port === '') throw new Error(`no port specified: ${raw}<empty>`);
    if (proto === '') proto = 'tcp';
    proto = proto.toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') throw new Error(`invalid proto: ${proto}`);
    const range = parsePortRange(port);
    if (range === undefined) throw new Error(`invalid containerPort: ${port}`);
    if (hostPort !== '') {
      const h = parsePortRange(hostPort);
      if (h === undefined) throw new Error(`invalid hostPort: ${hostPort}`);
      if (range[1] - range[0] !== h[1] - h[0] && range[1] !== range[0]) {
        throw new Error(`invalid ranges specified for container and host Ports: ${port} and ${hostPort}`);
      }
    }
    for (let p = range[0]; p <= range[1]; p++) {
      const key = `${p}/${proto}`;
      if (!out.includes(key)) out.push(key);
    }
  }
  return out;
}
