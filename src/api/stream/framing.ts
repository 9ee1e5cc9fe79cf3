// Docker's multiplexed stream: an 8-byte header [stream, 0, 0, 0, size(4, big-endian)] per
// frame, used when the container has no TTY; raw bytes otherwise.
export function frame(stream: 0 | 1 | 2 | 3, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

export { parseDetachKeys, DetachScanner } from '../../core/detach-keys.ts';
