// Signal names as Docker accepts them: "TERM", "SIGTERM", "15", "SIGRTMIN+3".
import { constants } from 'node:os';

const SIGNALS = constants.signals as Record<string, number>;

export function signalNumber(sig: string): number | undefined {
  const s = sig.trim().toUpperCase();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return n > 0 && n <= 64 ? n : undefined;
  }
  const name = s.startsWith('SIG') ? s : `SIG${s}`;
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name);
  if (rt) return 34 + Number(rt[1] ?? 0);
  const rtm = /^SIGRTMAX(?:-(\d+))?$/.exec(name);
  if (rtm) return 64 - Number(rtm[1] ?? 0);
  return SIGNALS[name];
}
