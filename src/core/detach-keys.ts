// Detach keys (default ctrl-p,ctrl-q): parsing Docker's key spec and scanning a stdin stream.
/** Detach-key detection on a client's stdin (default ctrl-p,ctrl-q). */
export function parseDetachKeys(spec: string | null | undefined): Buffer {
  const s = spec ?? 'ctrl-p,ctrl-q';
  const out: number[] = [];
  for (const k of s.split(',')) {
    const key = k.trim();
    if (key.length === 1) out.push(key.charCodeAt(0));
    else if (/^ctrl-[a-z@\[\\\]^_]$/i.test(key)) {
      const c = key.slice(5);
      const code = c.toLowerCase() === '@' ? 0 : c.toUpperCase().charCodeAt(0) - 64;
      out.push(code);
    } else throw new Error(`Invalid detach keys (${spec}) provided`);
  }
  return Buffer.from(out);
}

export class DetachScanner {
  private matched = 0;
  constructor(private readonly keys: Buffer) {}
  /** Returns the bytes to pass on, and whether the detach sequence completed. */
  push(data: Buffer): { pass: Buffer; detach: boolean } {
    if (this.keys.length === 0) return { pass: data, detach: false };
    const out: number[] = [];
    for (const b of data) {
      if (b === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) {
          this.matched = 0;
          return { pass: Buffer.from(out), detach: true };
        }
        continue;
      }
      if (this.matched > 0) {
        for (let i = 0; i < this.matched; i++) out.push(this.keys[i] ?? 0);
        this.matched = 0;
        if (b === this.keys[0]) {
          this.matched = 1;
          continue;
        }
      }
      out.push(b);
    }
    return { pass: Buffer.from(out), detach: false };
  }
}
