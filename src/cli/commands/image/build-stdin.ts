// `berth build -`: a context that holds only the Dockerfile read from stdin.
export function* encodeContext(dockerfile: string): Generator<Buffer> {
  const data = Buffer.from(dockerfile);
  const h = Buffer.alloc(512);
  h.write('Dockerfile', 0, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
  h.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0' + '00', 257, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  yield h;
  yield data;
  yield Buffer.alloc((512 - (data.length % 512)) % 512);
  yield Buffer.alloc(1024);
}
