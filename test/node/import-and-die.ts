/**
 * Child of state-store-import-chunks.test.ts: imports the image file argv[3] into the replica
 * state store at argv[2] (sync: false) in transactions of argv[4] bytes, and kills itself with
 * SIGKILL once argv[5] chunks of the image were read, in the middle of the import.
 */
import { openSync, readSync } from 'node:fs';
import { LmdbStore } from '../../node/state-machine/lmdb-store.ts';

const [dir, imagePath, txnBytes, dieAfter] = process.argv.slice(2) as [string, string, string, string];
const store = LmdbStore.open({ path: dir, sync: false });

function* chunks(): Generator<Buffer> {
  const fd = openSync(imagePath, 'r');
  for (let read = 0; ; read++) {
    if (read === Number(dieAfter)) {
      process.stdout.write(`dying with ${store.usedBytes()} bytes of pages committed\n`);
      process.kill(process.pid, 'SIGKILL');
    }
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf);
    if (n === 0) return;
    yield buf.subarray(0, n);
  }
}

await store.importSnapshot(chunks(), Number(txnBytes));
process.stdout.write('imported whole: the kill did not come\n');
