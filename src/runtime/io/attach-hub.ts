// One connection to a running process's conmon attach socket, shared by every client attached
// to it. The hub always drains the socket (a stalled reader would stall the container), fans
// output out to subscribers, and forwards stdin in records of at most 32 KiB.
import { connectSeqpacket, type SeqpacketSocket } from '../../sys/seqpacket.ts';

export type StreamId = 1 | 2; // stdout, stderr (Docker's framing ids)

export interface AttachSubscriber {
  output(stream: StreamId, data: Buffer): void;
  /** the process's streams ended (it exited, or the monitor went away) */
  closed(): void;
}

export class AttachHub {
  private readonly subs = new Set<AttachSubscriber>();
  private ended = false;
  private stdinClosed = false;
  private constructor(private readonly sock: SeqpacketSocket) {
    sock.on('data', (rec: Buffer) => {
      if (rec.length < 2) return;
      const stream: StreamId = rec[0] === 3 ? 2 : 1;
      const data = rec.subarray(1);
      for (const s of this.subs) s.output(stream, data);
    });
    const finish = (): void => {
      if (this.ended) return;
      this.ended = true;
      for (const s of this.subs) s.closed();
      this.subs.clear();
      sock.destroy();
    };
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', finish);
  }

  static async connect(path: string): Promise<AttachHub> {
    return new AttachHub(await connectSeqpacket(path));
  }

  get isEnded(): boolean {
    return this.ended;
  }

  subscribe(s: AttachSubscriber): () => void {
    if (this.ended) {
      s.closed();
      return () => undefined;
    }
    this.subs.add(s);
    return () => {
      this.subs.delete(s);
    };
  }

  get subscriberCount(): number {
    return this.subs.size;
  }

  writeStdin(data: Buffer): void {
    if (this.ended || this.stdinClosed) return;
    this.sock.write(data);
  }

  /** EOF on the process's stdin (conmon closes it when we half-close). */
  closeStdin(): void {
    if (this.ended || this.stdinClosed) return;
    this.stdinClosed = true;
    this.sock.end();
  }

  close(): void {
    this.sock.destroy();
  }
}
