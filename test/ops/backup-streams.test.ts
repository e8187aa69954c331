/**
 * `seqdb backup` keeps the images it fetched in one unlinked file beside its output (never all in
 * memory) and writes its file from there chunk by chunk; a fetch that failed part way is
 * overwritten by the next attempt, and an image whose size does not match its manifest entry
 * leaves no backup file behind.
 */
import test from 'ava';
import { randomFillSync } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBackupFile, sha256, writeBackupFile } from '../../node/backup/backup-file.ts';
import { FetchedImages } from '../../node/backup/fetched-images.ts';

/** Descriptors of this process open on deleted files in `dir`. */
function openDeleted(dir: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir + '/') && target.endsWith('(deleted)')) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

const random = (n: number): Buffer => randomFillSync(Buffer.alloc(n));

test('fetched images live in one deleted file beside the output and go into the backup file whole', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-backup-streams-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'b.bak');
  const fetched = FetchedImages.beside(out);
  t.teardown(() => fetched.close());
  t.deepEqual(await readdir(dir), [], 'nothing named is left beside the output');
  t.is(openDeleted(dir), 1);

  const a = random(3 * 1024 * 1024 + 17);
  const b = random(70_000);
  const wa = fetched.begin();
  for (let at = 0; at < a.length; at += 65_536) wa.append(a.subarray(at, at + 65_536));
  const fa = wa.finish();
  const broken = fetched.begin();
  broken.append(random(500_000)); // a fetch that failed part way: never finished
  const wb = fetched.begin();
  wb.append(b);
  const fb = wb.finish();
  t.is(fa.bytes, a.length);
  t.is(fa.sha256, sha256(a));
  t.true(Buffer.concat([...fa.chunks()]).equals(a));
  t.true(Buffer.concat([...fb.chunks()]).equals(b), 'the next image overwrote the broken fetch');

  const meta = (shard: string, f: typeof fa) => ({ shard, index: 1, bytes: f.bytes, sha256: f.sha256, from: 'x:1' });
  await writeBackupFile(out, 'router', [{ meta: meta('1', fa), chunks: () => fa.chunks() }, { meta: meta('2', fb), chunks: () => fb.chunks() }]);
  const back = await readBackupFile(out);
  t.true(back.images[0]!.image.equals(a));
  t.true(back.images[1]!.image.equals(b));
  fetched.close();
  t.is(openDeleted(dir), 0, 'closed: the fetched images are gone');
  t.throws(() => [...fa.chunks()], { message: /closed/ });
});

test('an image shorter than its manifest entry leaves no backup file and no temp file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-backup-streams-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'b.bak');
  const image = random(1000);
  await t.throwsAsync(writeBackupFile(out, 'router', [{ meta: { shard: '1', index: 1, bytes: 2000, sha256: sha256(image), from: 'x:1' }, chunks: () => [image] }]));
  t.deepEqual(await readdir(dir), []);
});

test('a backup file opens without reading its images; each is checked when read; a cut or padded file is refused', async (t) => {
  const { openBackupFile } = await import('../../node/backup/backup-file.ts');
  const { readFile, writeFile, truncate } = await import('node:fs/promises');
  const dir = await mkdtemp(join(tmpdir(), 'seqdb-backup-streams-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'b.bak');
  const a = random(5000);
  const b = random(7000);
  const meta = (shard: string, image: Buffer) => ({ shard, index: 1, bytes: image.length, sha256: sha256(image), from: 'x:1' });
  await writeBackupFile(path, 'router', [{ meta: meta('1', a), image: a }, { meta: meta('2', b), image: b }]);
  const bytes = await readFile(path);
  bytes[bytes.length - 1] ^= 0xff; // the second image's last byte
  await writeFile(path, bytes);

  const backup = await openBackupFile(path);
  t.teardown(() => backup.close());
  t.deepEqual(backup.manifest.shards.map((s) => s.shard), ['1', '2']);
  t.true((await backup.image(0)).equals(a), 'an intact image reads back');
  const damaged = await t.throwsAsync(backup.image(1));
  t.is((damaged as { code?: string }).code, 'SYNTAX');
  t.regex(damaged!.message, /shard 2 image is damaged/);

  await writeFile(join(dir, 'padded.bak'), Buffer.concat([bytes, Buffer.from('x')]));
  t.is(((await t.throwsAsync(openBackupFile(join(dir, 'padded.bak')))) as { code?: string }).code, 'SYNTAX');
  await writeFile(join(dir, 'cut.bak'), bytes);
  await truncate(join(dir, 'cut.bak'), bytes.length - 10);
  t.is(((await t.throwsAsync(openBackupFile(join(dir, 'cut.bak')))) as { code?: string }).code, 'SYNTAX');
  await writeFile(join(dir, 'json.bak'), 'SEQDBBK1\n{not json\n');
  t.is(((await t.throwsAsync(openBackupFile(join(dir, 'json.bak')))) as { code?: string }).code, 'SYNTAX');
});
