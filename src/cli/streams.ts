// Pumping a hijacked attach/exec connection to the terminal: raw mode for TTYs, detach keys,
// window-size changes, demultiplexing for non-TTY output, half-close on stdin EOF.
import type { Socket } from 'node:net';
import { Demuxer, type Client } from '../client/index.ts';
import { DetachScanner, parseDetachKeys } from '../core/detach-keys.ts';

export interface PumpOptions {
  readonly tty: boolean;
  readonly stdin: boolean;
  readonly detachKeys?: string;
  /** path of the resize endpoint, e.g. /containers/<id>/resize */
  readonly resizePath?: string;
  readonly client: Client;
}

export interface PumpResult {
  readonly detached: boolean;
}

export function resize(client: Client, path: string): void {
  const rows = process.stdout.rows;
  const cols = process.stdout.columns;
  if (!rows || !cols) return;
  void client.status('POST', path, { query: { h: rows, w: cols } }).catch(() => undefined);
}

export function pump(socket: Socket, head: Buffer, o: PumpOptions): Promise<PumpResult> {
  return new Promise((resolve) => {
    let detached = false;
    const stdin = process.stdin;
    const isTty = o.tty && stdin.isTTY === true;
    const restore: (() => void)[] = [];
    if (isTty && o.stdin) {
      stdin.setRawMode(true);
      const unraw = (): void => {
        stdin.setRawMode(false);
      };
      process.once('exit', unraw);
      restore.push(() => {
        process.off('exit', unraw);
        unraw();
      });
    }
    // the caller sends the first resize once the process runs; later ones follow SIGWINCH
    if (o.tty && o.resizePath && process.stdout.isTTY) {
      const onWinch = (): void => resize(o.client, o.resizePath ?? '');
      process.on('SIGWINCH', onWinch);
      restore.push(() => process.off('SIGWINCH', onWinch));
    }
    const done = (): void => {
      for (const r of restore.splice(0)) r();
      if (o.stdin) {
        stdin.pause();
        stdin.unref?.();
      }
      resolve({ detached });
    };
    const demux = new Demuxer((s, d) => (s === 2 ? process.stderr.write(d) : process.stdout.write(d)));
    const onOut = (b: Buffer): void => {
      if (o.tty) process.stdout.write(b);
      else demux.push(b);
    };
    if (head.length) onOut(head);
    socket.on('data', onOut);
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', done);
    if (o.stdin) {
      // in TTY mode the client watches for the detach keys itself (as the docker CLI does)
      const scanner = isTty ? new DetachScanner(parseDetachKeys(o.detachKeys)) : undefined;
      stdin.on('data', (b: Buffer) => {
        if (!scanner) {
          socket.write(b);
          return;
        }
        const { pass, detach } = scanner.push(b);
        if (pass.length) socket.write(pass);
        if (detach) {
          detached = true;
          process.stderr.write('\r\nread escape sequence\r\n');
          socket.destroy();
          done();
        }
      });
      stdin.on('end', () => {
        if (!socket.destroyed) socket.end();
      });
      stdin.resume();
    } else {
      socket.end();
    }
  });
}

/** Forward signals to the container while attached (non-TTY, --sig-proxy). */
export function proxySignals(client: Client, id: string): () => void {
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const handlers = sigs.map((s) => {
    const h = (): void => {
      void client.status('POST', `/containers/${id}/kill`, { query: { signal: s.slice(3) } }).catch(() => undefined);
    };
    process.on(s, h);
    return [s, h] as const;
  });
  return () => {
    for (const [s, h] of handlers) process.off(s, h);
  };
}
