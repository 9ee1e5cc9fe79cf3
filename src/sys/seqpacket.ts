// A SOCK_SEQPACKET unix socket client (conmon's attach socket), on Node's own event loop.
//
// Lifecycle: connectSeqpacket() makes a non-blocking socket and connects it (retrying while
// the listener's backlog is full); the socket then watches its fd with a libuv poll handle
// (no threadpool thread). Adding a 'data' listener starts reading: each recv(2) is one
// record, emitted as one 'data' Buffer, never merged or split. write() queues records of at
// most 32 KiB and sends them as the socket becomes writable; end() shuts the write side
// (SHUT_WR) once the queue has drained, which conmon takes as stdin EOF. When the peer goes
// away the socket emits 'end' after the last record, then closes itself. destroy() closes
// the fd at once and may be called from any callback; 'close' follows from the loop, after
// libuv released the poll handle.

import { EventEmitter } from 'node:events';
import {
  AF_UNIX,
  ERRNO,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  MSG_TRUNC,
  SHUT_WR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  SOL_SOCKET,
  SO_ERROR,
  UV_READABLE,
  UV_WRITABLE,
  close,
  connectUnix,
  errnoError,
  getsockoptInt,
  hasCode,
  pollFd,
  recv,
  send,
  shutdown,
  socket,
  unixSockaddr,
  type ErrnoError,
  type FdPoll,
} from './libc.ts';

/** conmon reads stdin records into a 32768-byte buffer and silently truncates longer ones. */
export const MAX_WRITE_RECORD = 32768;
/** write() returns false once this many bytes are queued; wait for 'drain'. */
export const WRITE_HIGH_WATER_MARK = 256 * 1024;
/** Largest record received whole; a longer one fails the socket with EMSGSIZE. */
const RECV_BUFFER_SIZE = 256 * 1024;
/** Records read per poll wake-up before yielding to the rest of the loop (level-triggered: the rest follow). */
const MAX_RECORDS_PER_WAKEUP = 128;

const EAGAIN = ERRNO.EAGAIN ?? 11;
const EINTR = ERRNO.EINTR ?? 4;
const EPIPE = ERRNO.EPIPE ?? 32;
const ECONNRESET = ERRNO.ECONNRESET ?? 104;
const EMSGSIZE = ERRNO.EMSGSIZE ?? 90;

export interface SeqpacketSocket extends EventEmitter {
  // Events:
  //   'data'  (record: Buffer)  exactly one record; reading starts with the first 'data' listener
  //   'end'   ()                the peer closed (EOF); all records before it were delivered
  //   'drain' ()                the write queue emptied after write() returned false
  //   'error' (err)             an Error with `code` (errno name); 'close' follows
  //   'close' (hadError)        the fd is closed and the poll handle released
  /** Queue `data`, sent as records of <= 32768 bytes (never merged). Empty data sends nothing. Returns false past the high-water mark. After destroy() it is dropped; after end() it throws. */
  write(data: Uint8Array): boolean;
  /** Shut the write side (SHUT_WR: stdin EOF for conmon) once the write queue drained. Idempotent. */
  end(): void;
  /** Close now, dropping queued writes; safe from any callback, idempotent. */
  destroy(): void;
  /** Stop reading (records wait in the kernel; a stalled conmon client stalls the container). */
  pause(): void;
  /** Read again (also started by the first 'data' listener). */
  resume(): void;
  /** Let the process exit while this socket is open (unref) or not (ref, the default). */
  unref(): this;
  ref(): this;
  readonly destroyed: boolean;
  /** Bytes queued and not yet sent. */
  readonly writableLength: number;
}

export interface ConnectOptions {
  signal?: AbortSignal;
  /** How long to keep retrying while the listener's backlog is full (EAGAIN); default 5000 ms. */
  backlogTimeoutMs?: number;
}

let recvBuffer: Buffer | undefined;

class Socket extends EventEmitter implements SeqpacketSocket {
  #fd: number;
  #poll: FdPoll;
  #queue: Buffer[] = [];
  #queuedBytes = 0;
  #armed = 0; // events the poll handle is started with; -1 = must restart (libuv stopped it)
  #flowing = false;
  #paused = false;
  #readEnded = false; // EOF seen
  #writeClosed = false; // peer no longer takes writes (EPIPE/ECONNRESET)
  #ending = false; // end() called
  #shutDown = false; // SHUT_WR done
  #needDrain = false;
  #destroyed = false;
  #error: Error | undefined;

  constructor(fd: number) {
    super();
    this.#fd = fd;
    this.#poll = pollFd(fd, (status, events) => this.#onPoll(status, events), () => this.#onClosed());
    this.on('newListener', (event: string | symbol) => {
      if (event === 'data' && !this.#paused && !this.#flowing) {
        this.#flowing = true;
        // The listener is added right after this returns; arm the poll then.
        queueMicrotask(() => this.#update());
      }
    });
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  get writableLength(): number {
    return this.#queuedBytes;
  }

  write(data: Uint8Array): boolean {
    if (this.#destroyed || this.#writeClosed) return false;
    if (this.#ending) {
      const err = new Error('write after end') as ErrnoError;
      err.code = 'ERR_STREAM_WRITE_AFTER_END';
      throw err;
    }
    const wasEmpty = this.#queue.length === 0;
    for (let off = 0; off < data.byteLength; off += MAX_WRITE_RECORD) {
      // Copied: the caller may reuse its buffer once write() returns.
      const record = Buffer.from(data.subarray(off, Math.min(off + MAX_WRITE_RECORD, data.byteLength)));
      this.#queue.push(record);
      this.#queuedBytes += record.length;
    }
    if (wasEmpty) this.#flush();
    this.#update();
    const ok = this.#queuedBytes < WRITE_HIGH_WATER_MARK;
    if (!ok) this.#needDrain = true;
    return ok;
  }

  end(): void {
    if (this.#ending || this.#destroyed) return;
    this.#ending = true;
    if (this.#queue.length === 0) this.#shutdownWrite();
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#poll.close(); // stops the watcher and drops pending events for the fd at once
    try {
      close(this.#fd);
    } catch {
      // EBADF cannot happen (we own the fd); EINTR/EIO on a socket close still released it.
    }
  }

  pause(): void {
    this.#paused = true;
    this.#update();
  }

  resume(): void {
    this.#paused = false;
    this.#flowing = true;
    this.#update();
  }

  ref(): this {
    this.#poll.ref();
    return this;
  }

  unref(): this {
    this.#poll.unref();
    return this;
  }

  #fail(err: Error): void {
    this.#error ??= err;
    this.destroy();
  }

  #onClosed(): void {
    // After libuv closed the poll handle (its memory is already freed).
    const err = this.#error;
    if (err) this.emit('error', err);
    this.emit('close', err !== undefined);
  }

  #onPoll(status: number, events: number): void {
    if (this.#destroyed) return;
    try {
      if (status < 0) {
        // POLLERR: libuv stopped the watcher. Take the pending socket error; the records the
        // peer sent before it went away are still queued for us.
        this.#armed = -1;
        let soError: number;
        try {
          soError = getsockoptInt(this.#fd, SOL_SOCKET, SO_ERROR);
        } catch (e) {
          return this.#fail(e as Error);
        }
        if (soError === ECONNRESET || soError === EPIPE) this.#peerGone();
        else if (soError !== 0) return this.#fail(errnoError(soError, 'poll'));
        events = UV_READABLE | UV_WRITABLE;
      }
      if (events & UV_READABLE && this.#flowing && !this.#paused) this.#read();
      if (this.#destroyed) return;
      if (events & UV_WRITABLE) this.#flush();
    } finally {
      // A throwing 'data' listener is an uncaught exception, as with net.Socket (libc.ts rethrows
      // it from the loop); the socket stays usable, so keep its poll right.
      if (!this.#destroyed) this.#update();
    }
  }

  #read(): void {
    const buf = (recvBuffer ??= Buffer.allocUnsafe(RECV_BUFFER_SIZE));
    for (let i = 0; i < MAX_RECORDS_PER_WAKEUP; i++) {
      if (this.#destroyed || this.#paused || this.#readEnded) return;
      const n = recv(this.#fd, buf, MSG_DONTWAIT | MSG_TRUNC);
      if (n < 0) {
        const e = -n;
        if (e === EAGAIN) return;
        if (e === EINTR) continue;
        // The peer closed with our writes unread: this error comes first, its records after.
        if (e === ECONNRESET) {
          this.#peerGone();
          continue;
        }
        return this.#fail(errnoError(e, 'recv'));
      }
      if (n === 0) return this.#onEof();
      if (n > buf.length) return this.#fail(errnoError(EMSGSIZE, 'recv'));
      this.emit('data', Buffer.from(buf.subarray(0, n)));
    }
  }

  #onEof(): void {
    this.#readEnded = true;
    this.#peerGone();
    this.emit('end');
    this.destroy();
  }

  /** The peer takes no more writes: drop the queue; reading goes on until EOF. */
  #peerGone(): void {
    this.#writeClosed = true;
    this.#queue = [];
    this.#queuedBytes = 0;
  }

  #flush(): void {
    while (this.#queue.length > 0 && !this.#destroyed && !this.#writeClosed) {
      const record = this.#queue[0] as Buffer;
      const n = send(this.#fd, record, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0) {
        // A SEQPACKET send is all or nothing; a short count is only defensive.
        if (n >= record.length) this.#queue.shift();
        else this.#queue[0] = record.subarray(n);
        this.#queuedBytes -= n;
        continue;
      }
      const e = -n;
      if (e === EAGAIN) return;
      if (e === EINTR) continue;
      if (e === EPIPE || e === ECONNRESET) return this.#peerGone();
      return this.#fail(errnoError(e, 'send'));
    }
    if (this.#destroyed || this.#queue.length > 0) return;
    if (this.#ending) this.#shutdownWrite();
    if (this.#needDrain && !this.#writeClosed) {
      this.#needDrain = false;
      this.emit('drain');
    }
  }

  #shutdownWrite(): void {
    if (this.#shutDown || this.#destroyed) return;
    this.#shutDown = true;
    try {
      shutdown(this.#fd, SHUT_WR);
    } catch (e) {
      if (!hasCode(e, 'ENOTCONN')) this.#fail(e as Error);
    }
  }

  /** Start, change or stop the poll to match what the socket waits for. */
  #update(): void {
    if (this.#destroyed) return;
    let want = 0;
    if (this.#flowing && !this.#paused && !this.#readEnded) want |= UV_READABLE;
    if (this.#queue.length > 0 && !this.#writeClosed) want |= UV_WRITABLE;
    if (want === this.#armed) return;
    try {
      if (want === 0) this.#poll.stop();
      else this.#poll.start(want);
      this.#armed = want;
    } catch (e) {
      this.#fail(e as Error);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Connect to the SOCK_SEQPACKET unix socket at `path`. Rejects with an Error whose `code` is
 * the errno name: ENOENT (no socket file), ECONNREFUSED (no listener: e.g. conmon is gone),
 * ENAMETOOLONG (path over 107 bytes), EAGAIN (backlog still full after backlogTimeoutMs), ...
 * Add a 'data' listener right away: reading starts with it.
 */
export async function connectSeqpacket(path: string, options: ConnectOptions = {}): Promise<SeqpacketSocket> {
  const { signal, backlogTimeoutMs = 5000 } = options;
  signal?.throwIfAborted();
  unixSockaddr(path); // path checks before a socket is made
  const fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK);
  try {
    const deadline = Date.now() + backlogTimeoutMs;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        connectUnix(fd, path);
        break;
      } catch (e) {
        if (hasCode(e, 'EINTR')) continue;
        // A unix socket's non-blocking connect says EAGAIN while the backlog is full; it does not start a connection.
        if (!hasCode(e, 'EAGAIN') || Date.now() >= deadline) throw e;
      }
      await sleep(delay, signal);
    }
    return new Socket(fd);
  } catch (e) {
    close(fd);
    throw e;
  }
}
