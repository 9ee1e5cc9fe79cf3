// libc and libuv through koffi: the one place that loads native code by FFI.
//
// Lifecycle: nothing is loaded at import time. The first call of any wrapper loads koffi,
// libc.so.6 and (for fd polling) the libuv symbols of the node binary itself, and binds
// every function once. Wrappers are typed and throw Node-style errors whose `code`
// ('ENOENT', 'ECONNREFUSED', ...) comes from errno, never from message text. The hot-path
// socket calls (`recv`, `send`) return `-errno` instead of throwing. Wrappers are synchronous,
// except the calls that may wait on disk for long (`syncfs`, and `mountAsync`/`umount2Async`:
// unmounting an overlay syncs its upper filesystem): those run on a libuv threadpool thread
// and return a promise, so the event loop never waits for a flush.
//
// `pollFd` watches an fd with a libuv `uv_poll_t` on Node's default loop: no threadpool
// thread is held, and the handle memory lives until libuv's close callback.

import { constants as fsConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import { isMainThread } from 'node:worker_threads';

type Koffi = typeof import('koffi');
// koffi's own function type: any arguments in, any out; every wrapper below narrows it.
// `async` runs the call on a libuv threadpool thread; the callback sees that thread's errno.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type KoffiFn = ((...args: any[]) => any) & { async: (...args: any[]) => void };

// ---------------------------------------------------------------------------------------------
// Constants (Linux, x86_64/aarch64 generic ABI)

export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_ERROR = 4;
export const SHUT_RD = 0;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
/** Longest unix socket path connect(2) accepts: sun_path is 108 bytes including the NUL. */
export const UNIX_PATH_MAX = 107;

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_REMOUNT = 32;
export const MS_BIND = 4096;
export const MS_MOVE = 8192;
export const MS_REC = 16384;
export const MS_UNBINDABLE = 1 << 17;
export const MS_PRIVATE = 1 << 18;
export const MS_SLAVE = 1 << 19;
export const MS_SHARED = 1 << 20;
export const MNT_FORCE = 1;
export const MNT_DETACH = 2;
export const UMOUNT_NOFOLLOW = 8;

export const S_IFMT = 0o170000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFREG = 0o100000;

export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
/** Largest xattr value and largest name list the kernel hands out (XATTR_SIZE_MAX, XATTR_LIST_MAX). */
export const XATTR_MAX = 65536;

export const UV_READABLE = 1;
export const UV_WRITABLE = 2;
export const UV_DISCONNECT = 4;
const UV_POLL_HANDLE_TYPE = 8; // uv_handle_type UV_POLL

/** errno numbers by name (Linux), e.g. ERRNO.EAGAIN === 11. */
export const ERRNO: Readonly<Record<string, number>> = osConstants.errno;

// ---------------------------------------------------------------------------------------------
// Errors

export interface ErrnoError extends Error {
  /** Negative errno, as Node's own system errors carry it. */
  errno: number;
  code: string;
  syscall: string;
  path?: string;
}

let errnoNames: Map<number, string> | undefined;

/** Name of a positive errno value ('ENOENT'), or `E<n>` when unknown. */
export function errnoName(errno: number): string {
  const uv = getSystemErrorMap().get(-errno);
  if (uv) return uv[0];
  if (!errnoNames) {
    errnoNames = new Map();
    for (const [name, n] of Object.entries(osConstants.errno)) if (!errnoNames.has(n)) errnoNames.set(n, name);
  }
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** A Node-style system error (`ENOENT: no such file or directory, open '/x'`). */
export function errnoError(errno: number, syscall: string, path?: string): ErrnoError {
  const code = errnoName(errno);
  const description = getSystemErrorMap().get(-errno)?.[1] ?? 'system error';
  const err = new Error(`${code}: ${description}, ${syscall}${path === undefined ? '' : ` '${path}'`}`) as ErrnoError;
  err.errno = -errno;
  err.code = code;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}

/** True when `e` is an error whose `code` is one of `codes`. */
export function hasCode(e: unknown, ...codes: string[]): boolean {
  return typeof e === 'object' && e !== null && codes.includes((e as { code?: unknown }).code as string);
}

// ---------------------------------------------------------------------------------------------
// Lazy binding

interface Bindings {
  koffi: Koffi;
  socket: KoffiFn;
  connect: KoffiFn;
  bind: KoffiFn;
  listen: KoffiFn;
  accept4: KoffiFn;
  recv: KoffiFn;
  send: KoffiFn;
  shutdown: KoffiFn;
  close: KoffiFn;
  getsockopt: KoffiFn;
  mount: KoffiFn;
  umount2: KoffiFn;
  mknod: KoffiFn;
  lsetxattr: KoffiFn;
  lgetxattr: KoffiFn;
  lremovexattr: KoffiFn;
  llistxattr: KoffiFn;
  syncfs: KoffiFn;
}

let bindings: Bindings | undefined;

function lib(): Bindings {
  if (bindings) return bindings;
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const c = koffi.load('libc.so.6');
  bindings = {
    koffi,
    socket: c.func('int socket(int domain, int type, int protocol)'),
    connect: c.func('int connect(int fd, const void *addr, uint32_t addrlen)'),
    bind: c.func('int bind(int fd, const void *addr, uint32_t addrlen)'),
    listen: c.func('int listen(int fd, int backlog)'),
    accept4: c.func('int accept4(int fd, void *addr, void *addrlen, int flags)'),
    recv: c.func('intptr_t recv(int fd, void *buf, size_t len, int flags)'),
    send: c.func('intptr_t send(int fd, const void *buf, size_t len, int flags)'),
    shutdown: c.func('int shutdown(int fd, int how)'),
    close: c.func('int close(int fd)'),
    getsockopt: c.func('int getsockopt(int fd, int level, int name, _Out_ int *value, _Inout_ uint32_t *len)'),
    mount: c.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
    umount2: c.func('int umount2(const char *target, int flags)'),
    mknod: c.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    lsetxattr: c.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
    lgetxattr: c.func('intptr_t lgetxattr(const char *path, const char *name, void *value, size_t size)'),
    lremovexattr: c.func('int lremovexattr(const char *path, const char *name)'),
    llistxattr: c.func('intptr_t llistxattr(const char *path, void *list, size_t size)'),
    syncfs: c.func('int syncfs(int fd)'),
  };
  return bindings;
}

function errno(): number {
  return lib().koffi.errno();
}

function check(r: number, syscall: string, path?: string): number {
  if (r < 0) throw errnoError(errno(), syscall, path);
  return r;
}

/** `fn(...args)` on a threadpool thread; rejects with the errno of that thread when it returns < 0. */
function checkAsync(fn: KoffiFn, args: readonly unknown[], syscall: string, path?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err: unknown, r: number) => {
      if (err !== null && err !== undefined) reject(err);
      else if (r < 0) reject(errnoError(errno(), syscall, path)); // koffi restores the call's errno here
      else resolve(r);
    });
  });
}

let scratch: Buffer | undefined;

/** A buffer big enough for any xattr value or name list: one syscall per read, never ERANGE. */
function xattrBuffer(): Buffer {
  scratch ??= Buffer.alloc(XATTR_MAX);
  return scratch;
}

// ---------------------------------------------------------------------------------------------
// Sockets

export function socket(domain: number, type: number, protocol = 0): number {
  return check(lib().socket(domain, type, protocol) as number, 'socket');
}

/** `struct sockaddr_un` for `path`; throws ENAMETOOLONG past 107 bytes, EINVAL on a NUL byte. */
export function unixSockaddr(path: string, syscall = 'connect'): Buffer {
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length > UNIX_PATH_MAX) {
    const err = errnoError(ERRNO.ENAMETOOLONG ?? 36, syscall, path);
    err.message = `unix socket path is ${bytes.length} bytes, longer than the ${UNIX_PATH_MAX} bytes sun_path holds: ${path}`;
    throw err;
  }
  if (bytes.length === 0 || bytes.includes(0)) throw errnoError(ERRNO.EINVAL ?? 22, syscall, path);
  const addr = Buffer.alloc(2 + bytes.length + 1);
  addr.writeUInt16LE(AF_UNIX, 0); // sun_family (host order; x86_64 and aarch64 are little endian)
  bytes.copy(addr, 2);
  return addr;
}

/** connect(2) to a unix socket path. A non-blocking socket facing a full backlog throws EAGAIN. */
export function connectUnix(fd: number, path: string): void {
  const addr = unixSockaddr(path, 'connect');
  check(lib().connect(fd, addr, addr.length) as number, 'connect', path);
}

/** bind(2) to a unix socket path (creates the socket file). */
export function bindUnix(fd: number, path: string): void {
  const addr = unixSockaddr(path, 'bind');
  check(lib().bind(fd, addr, addr.length) as number, 'bind', path);
}

export function listen(fd: number, backlog: number): void {
  check(lib().listen(fd, backlog) as number, 'listen');
}

/** accept4(2) without the peer address; `flags` takes SOCK_NONBLOCK | SOCK_CLOEXEC. */
export function accept(fd: number, flags = SOCK_CLOEXEC): number {
  return check(lib().accept4(fd, null, null, flags) as number, 'accept');
}

/** recv(2) into `buf`: bytes received (with MSG_TRUNC: the record's full length), or -errno. */
export function recv(fd: number, buf: Uint8Array, flags: number): number {
  const n = Number(lib().recv(fd, buf, buf.byteLength, flags));
  return n < 0 ? -errno() : n;
}

/** send(2) of `data`: bytes sent, or -errno. Pass MSG_NOSIGNAL to get EPIPE instead of SIGPIPE. */
export function send(fd: number, data: Uint8Array, flags: number): number {
  const n = Number(lib().send(fd, data, data.byteLength, flags));
  return n < 0 ? -errno() : n;
}

export function shutdown(fd: number, how: number): void {
  check(lib().shutdown(fd, how) as number, 'shutdown');
}

export function close(fd: number): void {
  check(lib().close(fd) as number, 'close');
}

/** getsockopt(2) for an int option; SO_ERROR returns (and clears) the pending socket errno. */
export function getsockoptInt(fd: number, level: number, name: number): number {
  const value = [0];
  const len = [4];
  check(lib().getsockopt(fd, level, name, value, len) as number, 'getsockopt');
  return value[0] ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Mounts, device nodes, extended attributes

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  check(lib().mount(source, target, fstype, flags, data) as number, 'mount', target);
}

export function umount2(target: string, flags = 0): void {
  check(lib().umount2(target, flags) as number, 'umount2', target);
}

/** mount(2) on a threadpool thread. `data` is the filesystem's option string, at most one page. */
export async function mountAsync(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): Promise<void> {
  await checkAsync(lib().mount, [source, target, fstype, flags, data], 'mount', target);
}

/** umount2(2) on a threadpool thread: unmounting a filesystem may flush it first. */
export async function umount2Async(target: string, flags = 0): Promise<void> {
  await checkAsync(lib().umount2, [target, flags], 'umount2', target);
}

/** glibc's makedev(3): an overlay whiteout is `mknod(p, S_IFCHR, makedev(0, 0))`. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** mknod(2). `mode` = file type (S_IFCHR, S_IFIFO, ...) | permissions (the umask applies). */
export function mknod(path: string, mode: number, dev: number | bigint = 0n): void {
  check(lib().mknod(path, mode, BigInt(dev)) as number, 'mknod', path);
}

/** lsetxattr(2): set an attribute of the path itself (no symlink follow). */
export function lsetxattr(path: string, name: string, value: Uint8Array | string, flags = 0): void {
  const buf = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  check(lib().lsetxattr(path, name, buf, buf.byteLength, flags) as number, 'lsetxattr', path);
}

/** lgetxattr(2): the attribute's value, or null when the path has no such attribute (ENODATA). */
export function lgetxattr(path: string, name: string): Buffer | null {
  const buf = xattrBuffer();
  const n = Number(lib().lgetxattr(path, name, buf, buf.byteLength));
  if (n >= 0) return Buffer.from(buf.subarray(0, n));
  const e = errno();
  if (e === ERRNO.ENODATA) return null;
  throw errnoError(e, 'lgetxattr', path);
}

/** llistxattr(2): the names of the attributes of the path itself (no symlink follow), in the kernel's order. */
export function llistxattr(path: string): string[] {
  const buf = xattrBuffer();
  const n = Number(lib().llistxattr(path, buf, buf.byteLength));
  if (n < 0) throw errnoError(errno(), 'llistxattr', path);
  const names: string[] = [];
  // Each name ends with a NUL.
  for (let start = 0; start < n; ) {
    let end = buf.indexOf(0, start);
    if (end < 0 || end > n) end = n;
    if (end > start) names.push(buf.toString('utf8', start, end));
    start = end + 1;
  }
  return names;
}

/** lremovexattr(2); throws ENODATA when the attribute is absent. */
export function lremovexattr(path: string, name: string): void {
  check(lib().lremovexattr(path, name) as number, 'lremovexattr', path);
}

// ---------------------------------------------------------------------------------------------
// Flushing

/** syncfs(2) on a threadpool thread: write back the whole filesystem holding the open file `fd`. */
export async function syncfs(fd: number): Promise<void> {
  await checkAsync(lib().syncfs, [fd], 'syncfs');
}

/** syncfs(2) of the filesystem holding the directory `path` (opened O_RDONLY|O_DIRECTORY). */
export async function syncFilesystem(path: string): Promise<void> {
  const dir = await open(path, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    await checkAsync(lib().syncfs, [dir.fd], 'syncfs', path);
  } finally {
    await dir.close();
  }
}

// ---------------------------------------------------------------------------------------------
// fd polling on Node's libuv loop
//
// koffi calls a registered callback straight from libuv, outside Node's callback scope: a
// JS exception thrown there is swallowed (and left the process broken), and promise
// continuations or nextTicks queued there are not run until some other Node callback
// happens to run (observed: seconds later, or never, and the loop may exit with them
// pending). So the native callbacks only record what happened and schedule one setImmediate;
// listeners run from it, in a normal Node callback, in the same loop iteration (check phase).

/** A libuv poll watcher on one fd. Closing it does not close the fd. */
export interface FdPoll {
  /** (Re)start watching for `events` (UV_READABLE | UV_WRITABLE | UV_DISCONNECT). */
  start(events: number): void;
  /** Stop watching; an inactive poll does not keep the process alive. */
  stop(): void;
  /** uv_close: stops at once (the fd may be closed right after; no listener call follows); `onClose` runs later. Idempotent. */
  close(): void;
  /** Whether an active poll keeps the process alive (the default) or not. */
  ref(): void;
  unref(): void;
}

/**
 * Called with `status` 0 and the ready events, or a negative errno (-EBADF when the kernel
 * reported POLLERR; libuv has then stopped the watcher: call start again).
 */
export type PollListener = (status: number, events: number) => void;

interface UvBindings {
  loop: unknown;
  handleSize: number;
  pollInit: KoffiFn;
  pollStart: KoffiFn;
  pollStop: KoffiFn;
  close: KoffiFn;
  ref: KoffiFn;
  unref: KoffiFn;
  pollCb: unknown;
  closeCb: unknown;
}

interface PollEntry {
  mem: unknown; // koffi pointer to the uv_poll_t memory; freed in libuv's close callback
  onEvent: PollListener;
  onClose: () => void;
  closed: boolean;
  queued: boolean;
  status: number;
  events: number;
}

let uvBindings: UvBindings | undefined;
const polls = new Map<bigint, PollEntry>();
let ready: PollEntry[] = [];
let dispatchScheduled = false;

/** An exception must never escape into native code; rethrow it from the loop. */
function rethrowLater(e: unknown): void {
  setImmediate(() => {
    throw e;
  });
}

function dispatch(): void {
  dispatchScheduled = false;
  const batch = ready;
  ready = [];
  for (const entry of batch) {
    entry.queued = false;
    if (entry.closed) continue;
    const { status, events } = entry;
    entry.status = 0;
    entry.events = 0;
    try {
      entry.onEvent(status, events);
    } catch (e) {
      rethrowLater(e); // the rest of the batch still runs
    }
  }
}

function uv(): UvBindings {
  if (uvBindings) return uvBindings;
  if (!isMainThread) throw new Error('pollFd: libuv polling is bound to the main thread loop (uv_default_loop); not usable in a worker');
  const { koffi } = lib();
  const self = koffi.load(null); // the node binary, which exports libuv
  // Anonymous prototypes: koffi type names are process-global, and this module may be loaded twice.
  const pollCbPtr = koffi.pointer(koffi.proto('void', ['void *', 'int', 'int']));
  const closeCbPtr = koffi.pointer(koffi.proto('void', ['void *']));
  const handleSize = Number(self.func('size_t uv_handle_size(int type)')(UV_POLL_HANDLE_TYPE));
  if (!(handleSize > 0 && handleSize < 4096)) throw new Error(`libuv reports an implausible uv_poll_t size ${handleSize}`);
  // Native context: record and schedule only (see above).
  const onPoll = (handle: bigint, status: number, events: number): void => {
    try {
      const entry = polls.get(handle);
      if (!entry || entry.closed) return;
      if (status < 0) entry.status = status;
      entry.events |= events;
      if (!entry.queued) {
        entry.queued = true;
        ready.push(entry);
      }
      if (!dispatchScheduled) {
        dispatchScheduled = true;
        setImmediate(dispatch);
      }
    } catch (e) {
      rethrowLater(e);
    }
  };
  const onClosed = (handle: bigint): void => {
    try {
      const entry = polls.get(handle);
      if (!entry) return;
      polls.delete(handle);
      koffi.free(entry.mem);
      setImmediate(entry.onClose);
    } catch (e) {
      rethrowLater(e);
    }
  };
  uvBindings = {
    loop: self.func('void *uv_default_loop()')(),
    handleSize,
    pollInit: self.func('int uv_poll_init(void *loop, void *handle, int fd)'),
    pollStart: self.func('uv_poll_start', 'int', ['void *', 'int', pollCbPtr]),
    pollStop: self.func('int uv_poll_stop(void *handle)'),
    close: self.func('uv_close', 'void', ['void *', closeCbPtr]),
    ref: self.func('void uv_ref(void *handle)'),
    unref: self.func('void uv_unref(void *handle)'),
    // Registered once for the process; every poll handle dispatches by its address.
    pollCb: koffi.register(onPoll, pollCbPtr),
    closeCb: koffi.register(onClosed, closeCbPtr),
  };
  return uvBindings;
}

/** Number of poll handles libuv has not finished closing (for leak checks). */
export function openPollCount(): number {
  return polls.size;
}

/**
 * Watch `fd` on Node's default libuv loop (main thread only). `onEvent` and `onClose` run
 * from setImmediate; an exception they throw is rethrown as an uncaught exception.
 */
export function pollFd(fd: number, onEvent: PollListener, onClose: () => void = () => {}): FdPoll {
  const u = uv();
  const { koffi } = lib();
  const mem = koffi.alloc('uint8_t', u.handleSize);
  const r = u.pollInit(u.loop, mem, fd) as number;
  if (r < 0) {
    koffi.free(mem);
    throw errnoError(-r, 'uv_poll_init');
  }
  const entry: PollEntry = { mem, onEvent, onClose, closed: false, queued: false, status: 0, events: 0 };
  polls.set(koffi.address(mem), entry);
  return {
    start(events: number): void {
      if (entry.closed) return;
      const rc = u.pollStart(mem, events, u.pollCb) as number;
      if (rc < 0) throw errnoError(-rc, 'uv_poll_start');
    },
    stop(): void {
      if (!entry.closed) u.pollStop(mem);
    },
    close(): void {
      if (entry.closed) return;
      entry.closed = true;
      u.close(mem, u.closeCb);
    },
    ref(): void {
      if (!entry.closed) u.ref(mem);
    },
    unref(): void {
      if (!entry.closed) u.unref(mem);
    },
  };
}
