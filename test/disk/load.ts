import { RespClient, encodeRequest } from '../helpers/resp-client.ts';

/** Creates `count` sequences with long names (about 520 bytes each of state), pipelined. */
export async function loadLongNames(port: number, count: number, prefix = 'p'): Promise<void> {
  const c = await RespClient.connect(port);
  try {
    const bucket = prefix.padEnd(250, 'b');
    for (let done = 0; done < count;) {
      const n = Math.min(2000, count - done);
      const reqs: Buffer[] = [];
      for (let i = 0; i < n; i++) reqs.push(encodeRequest('INC', bucket, String(done + i).padStart(250, 's')));
      c.socket.write(Buffer.concat(reqs));
      for (let i = 0; i < n; i++) {
        const r = await c.next(20_000);
        if (!r.startsWith(':')) throw new Error(`load: ${r}`);
      }
      done += n;
    }
  } finally {
    c.socket.destroy();
  }
}
