import test from 'ava';
import { open } from 'lmdb';
import { tempDir } from '../helpers/temp-dir.ts';
import { SnapshotImages } from '../../node/replication/snapshot-images.ts';

test('a generation left by a crash mid-write is never reused: its chunks cannot mix into a new image', async (t) => {
  const env = open({ path: await tempDir(t), maxDbs: 4 });
  t.teardown(() => env.close());
  const image = env.openDB<Buffer, string>({ name: 'image', encoding: 'binary' });
  const meta = env.openDB<unknown, string>({ name: 'meta' });
  const first = new SnapshotImages(image, meta, 0);
  env.transactionSync(() => first.putWhole(Buffer.from('image one'), 10));
  // A crash while generation 2 was written: ten chunks, never made current.
  env.transactionSync(() => {
    for (let i = 0; i < 10; i++) image.putSync(`2/${String(i).padStart(6, '0')}`, Buffer.from(`stale ${i}`));
  });
  const reopened = new SnapshotImages(image, meta, 10);
  const commit = async (fn: () => void): Promise<void> => void (await env.transaction(fn));
  t.true(await reopened.putStreamed([Buffer.from('image two')], 20, commit, () => {}));
  t.is(Buffer.from(reopened.read()).toString(), 'image two');
  const keys = [...image.getKeys({})] as string[];
  t.is(keys.length, 1, `only the current image's chunk is left: ${keys.join(' ')}`);
});
