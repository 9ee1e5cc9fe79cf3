// `--change` instructions for import/commit: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER,
// WORKDIR, VOLUME, STOPSIGNAL, ONBUILD, as Docker's dockerfile parser reads a single line.
import { invalid } from '../core/errors.ts';
import type { ImageRunConfig } from './types.ts';

function parseJsonOrShell(rest: string): string[] {
  const t = rest.trim();
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
    } catch {
      /* shell form */
    }
  }
  return ['/bin/sh', '-c', t];
}

function parseKeyValues(rest: string, legacySingle: boolean): [string, string][] {
  const out: [string, string][] = [];
  const re = /\s*([^\s=]+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/y;
  const t = rest.trim();
  if (!/^[^\s=]+=/.test(t) && legacySingle) {
    const m = /^(\S+)\s+(.*)$/.exec(t);
    if (!m) throw invalid(`ENV requires a value: ${t}`);
    return [[m[1] ?? '', m[2] ?? '']];
  }
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while (re.lastIndex < t.length && (m = re.exec(t))) {
    let v = m[2] ?? '';
    if (v.startsWith('"')) v = JSON.parse(v) as string;
    else if (v.startsWith("'")) v = v.slice(1, -1);
    out.push([m[1] ?? '', v]);
  }
  return out;
}

export function applyChanges(base: ImageRunConfig, changes: readonly string[]): ImageRunConfig {
  const c: ImageRunConfig = structuredClone(base);
  for (const line of changes) {
    const m = /^\s*(\w+)\s*(.*)$/s.exec(line);
    if (!m) throw invalid(`dockerfile parse error: ${line}`);
    const instr = (m[1] ?? '').toUpperCase();
    const rest = m[2] ?? '';
    switch (instr) {
      case 'CMD':
        c.Cmd = parseJsonOrShell(rest);
        break;
      case 'ENTRYPOINT':
        c.Entrypoint = parseJsonOrShell(rest);
        break;
      case 'ENV': {
        const env = [...(c.Env ?? [])];
        for (const [k, v] of parseKeyValues(rest, true)) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        c.Env = env;
        break;
      }
      case 'LABEL':
        c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(parseKeyValues(rest, false)) };
        break;
      case 'EXPOSE':
        c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
        for (const p of rest.trim().split(/\s+/).filter(Boolean)) c.ExposedPorts[p.includes('/') ? p : `${p}/tcp`] = {};
        break;
      case 'USER':
        c.User = rest.trim();
        break;
      case 'WORKDIR':
        c.WorkingDir = rest.trim();
        break;
      case 'STOPSIGNAL':
        c.StopSignal = rest.trim();
        break;
      case 'VOLUME': {
        c.Volumes = { ...(c.Volumes ?? {}) };
        const t = rest.trim();
        const vols = t.startsWith('[') ? (JSON.parse(t) as string[]) : t.split(/\s+/);
        for (const v of vols) c.Volumes[v] = {};
        break;
      }
      case 'ONBUILD':
        c.OnBuild = [...(c.OnBuild ?? []), rest.trim()];
        break;
      default:
        throw invalid(`${instr} is not a valid change command`);
    }
  }
  return c;
}
