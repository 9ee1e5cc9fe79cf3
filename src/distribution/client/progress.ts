// What pull and push report while they work. The words are Docker's (`Downloading`,
// `Pull complete`, `Layer already exists`, …) because users and scripts know them; how they are
// shown — JSON lines on the Engine API, bars on a terminal — is for api/ and cli/.

export interface ProgressEvent {
  /** A layer's short ID (12 hex), or a tag for `Pulling from …`; absent for whole-image lines. */
  readonly id?: string;
  readonly status: string;
  /** Bytes done (and expected, when known): Downloading, Extracting, Pushing. */
  readonly progress?: { readonly current: number; readonly total?: number };
  /** True for a layer's status line (Docker sends these with an empty progressDetail). */
  readonly layer?: boolean;
  /** The result of a push, for clients that read it (`aux` on the wire). */
  readonly aux?: { readonly tag: string; readonly digest: string; readonly size: number };
}

export type ProgressSink = (e: ProgressEvent) => void;

/** The 12-hex short form of a digest, as Docker names layers. */
export function shortId(digest: string): string {
  const hex = digest.includes(':') ? digest.slice(digest.indexOf(':') + 1) : digest;
  return hex.slice(0, 12);
}

/**
 * Progress of one transfer, at most every `intervalMs` (and always at the end), so that a fast
 * download does not become thousands of lines.
 */
export function throttled(sink: ProgressSink | undefined, id: string, status: string, total: number | undefined, intervalMs = 100): (current: number, final?: boolean) => void {
  let last = 0;
  let lastBytes = -1;
  return (current: number, final = false) => {
    if (sink === undefined || current === lastBytes) return;
    const now = Date.now();
    if (!final && now - last < intervalMs && !(total !== undefined && current >= total)) return;
    last = now;
    lastBytes = current;
    sink({ id, status, layer: true, progress: { current, ...(total !== undefined ? { total } : {}) } });
  };
}
