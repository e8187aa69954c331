/**
 * The staging area of chunked imports (node/ownership/import-staging.ts): the staged-part count
 * found by probing keys agrees with the chain, and an IMPORTPART's apply step reads no more of
 * the staged parts at part 40 than at part 1 (it used to read all of them: a move's copy was
 * quadratic in its pages).
 */
import test from 'ava';
import { slotOf } from '../../shared/placement/slot.ts';
import { SPACE_STAGING, readPart, stagedParts, stagingKey, writePart } from '../../node/ownership/import-staging.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { slotTable } from '../../node/ownership/catalog.ts';
import { MemoryKv, type KvEntry, type KvTxn } from '../../node/state-machine/index.ts';
import { apply, cluster, inc, threeShards } from '../helpers/logged-apply.ts';

const EPOCH = 7;

function stage(kv: KvTxn, epoch: number, parts: number): void {
  for (let k = 0; k < parts; k++) {
    writePart(kv, epoch, k, { after: Buffer.from(`c${k}`), last: Buffer.from(`c${k + 1}`), count: k + 1, data: Buffer.alloc(8, k) });
  }
}

/** Counts the staged parts' values read through it (gets and scanned entries of the staging space). */
class CountingKv implements KvTxn {
  stagedReads = 0;
  constructor(private readonly inner: KvTxn) {}
  get(key: Buffer): Buffer | undefined {
    if (key[0] === SPACE_STAGING) this.stagedReads++;
    return this.inner.get(key);
  }
  has(key: Buffer): boolean {
    return this.inner.has(key);
  }
  first(prefix: Buffer): KvEntry | undefined {
    const e = this.inner.first(prefix);
    if (e !== undefined && e.key[0] === SPACE_STAGING) this.stagedReads++;
    return e;
  }
  *scan(prefix: Buffer, after?: Buffer): Generator<KvEntry> {
    for (const e of this.inner.scan(prefix, after)) {
      if (e.key[0] === SPACE_STAGING) this.stagedReads++;
      yield e;
    }
  }
  put(key: Buffer, value: Buffer): void {
    this.inner.put(key, value);
  }
  remove(key: Buffer): void {
    this.inner.remove(key);
  }
}

test('stagedParts counts every chain length, 0 to 300, as a scan of the epoch does', (t) => {
  for (let n = 0; n <= 300; n += n < 70 ? 1 : 23) {
    const kv = new MemoryKv();
    stage(kv, EPOCH, n);
    stage(kv, EPOCH + 1, 3);
    const scanned = [...kv.scan(stagingKey(EPOCH, 0).subarray(0, 9))].length;
    t.is(scanned, n);
    t.is(stagedParts(kv, EPOCH), n, `chain of ${n}`);
  }
  t.is(stagedParts(new MemoryKv(), EPOCH), 0);
});

test('restaging part k drops the parts after it, and only those; the other epochs keep theirs', (t) => {
  const kv = new MemoryKv();
  stage(kv, EPOCH, 40);
  stage(kv, EPOCH + 1, 5);
  writePart(kv, EPOCH, 12, { after: Buffer.from('c12'), last: Buffer.from('z'), count: 99, data: Buffer.alloc(3) });
  t.is(stagedParts(kv, EPOCH), 13);
  t.is(readPart(kv, EPOCH, 12)!.count, 99);
  t.is(readPart(kv, EPOCH, 11)!.count, 12);
  t.is(readPart(kv, EPOCH, 13), undefined);
  t.is(stagedParts(kv, EPOCH + 1), 5);
  writePart(kv, EPOCH, 0, { after: Buffer.alloc(0), last: Buffer.from('a'), count: 1, data: Buffer.alloc(1) });
  t.is(stagedParts(kv, EPOCH), 1);
});

test('an IMPORTPART reads one staged part (the one before it) however many are staged; IMPORTDONE installs them all', (t) => {
  const s = threeShards();
  const table = slotTable(s[1]!);
  let a = '';
  for (let i = 0; a === ''; i++) if (table[slotOf(`m${i}`)] === '2') a = `m${i}`;
  const tokens = 8_000;
  for (let k = 0; k < tokens; k++) apply(s[2]!, inc(a, `1000-${a}-${k}-${'x'.repeat(40)}`));
  const r = apply(s[1]!, cluster('MOVEBEGIN', '2', '3', SlotSet.of([slotOf(a)]).toBase64()));
  if (r.type !== 'bulk') throw new Error(JSON.stringify(r));
  const m = String((JSON.parse(r.value.toString()) as { epoch: number }).epoch);
  const slots = SlotSet.of([slotOf(a)]).toBase64();
  apply(s[2]!, cluster('FREEZE', m, slots));
  const target = new CountingKv(s[3]!);
  let cursor = '-';
  let parts = 0;
  let count = 0n;
  const reads: number[] = [];
  for (let done = false; !done; parts++) {
    const page = apply(s[2]!, cluster('EXPORTPAGE', m, slots, cursor));
    if (page.type !== 'array') throw new Error(JSON.stringify(page));
    const [data, n, last, end] = page.value as [Buffer, bigint, Buffer, bigint];
    target.stagedReads = 0;
    const staged = apply(target, cluster('IMPORTPART', m, slots, String(parts), cursor, data.toString('base64')));
    t.deepEqual(staged, { type: 'int', value: n });
    reads.push(target.stagedReads);
    cursor = last.length === 0 ? '-' : last.toString('base64');
    count += n;
    done = end === 1n;
  }
  t.true(parts >= 20, `${parts} parts (the test needs many)`);
  t.true(reads.every((n, k) => n <= (k === 0 ? 0 : 1)), `staged parts read per IMPORTPART: ${reads.join(' ')}`);
  t.deepEqual(apply(target, cluster('IMPORTDONE', m, slots, String(parts), String(count))), { type: 'int', value: 1n });
  t.deepEqual(apply(s[3]!, inc(a)), { type: 'int', value: BigInt(tokens + 1) });
  t.deepEqual(apply(s[3]!, inc(a, `1000-${a}-17-${'x'.repeat(40)}`)), { type: 'int', value: 18n }, 'a moved token is still known');
  t.is(stagedParts(s[3]!, Number(m)), 0, 'staging cleared');
});
