/**
 * CLUSTER IMPORTLIVE (node/ownership/move-import.ts importLive): a chunked import whose parts are
 * installed as they arrive, so that IMPORTDONE only takes the slots. The target serves nothing of
 * S before IMPORTDONE; the end state is byte for byte the IMPORTPART path's, whatever mix of the
 * two a chain is made of; leftovers of an aborted import are deleted by the next import of S.
 */
import test from 'ava';
import { slotOf } from '../../shared/placement/slot.ts';
import { slotTable } from '../../node/ownership/catalog.ts';
import { ownershipRefusal } from '../../node/ownership/ownership.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { exportSlotPage } from '../../node/ownership/slot-data.ts';
import { MemoryKv, parseCommand, stateSummary, type CommandResult, type KvReader } from '../../node/state-machine/index.ts';
import { SPACE_SERIES_EXPIRY } from '../../node/state-machine/series-keys.ts';
import { apply, cluster, inc, threeShards, type Shards } from '../helpers/logged-apply.ts';

const codeOf = (r: CommandResult | null): string => (r === null ? 'served' : r.type === 'error' ? r.code : r.type);
const intOf = (r: CommandResult): bigint => {
  if (r.type !== 'int') throw new Error(`expected int, got ${JSON.stringify(r)}`);
  return r.value;
};

function dump(kv: KvReader): string[] {
  return [...kv.scan(Buffer.alloc(0))].map((e) => `${e.key.toString('hex')}=${e.value.toString('hex')}`);
}

function copyOf(kv: MemoryKv): MemoryKv {
  const out = new MemoryKv();
  for (const { key, value } of kv.entries()) out.put(key, value);
  return out;
}

interface Page { readonly data: string; readonly after: string; readonly count: bigint }

/**
 * Shard 2 holding 1,500 token records of bucket `a` (several 40 KiB pages), the move of a's slot
 * to shard 3 begun and frozen, and its pages exported. Returns them and the shards.
 */
function frozenMove(reservations = 0): { s: Shards; a: string; m: string; slots: string; pages: Page[] } {
  const s = threeShards();
  const table = slotTable(s[1]!);
  let a = '';
  for (let i = 0; a === ''; i++) if (table[slotOf(`l${i}`)] === '2') a = `l${i}`;
  for (let k = 0; k < 1500; k++) apply(s[2]!, inc(a, `1000-${a}-${k}`));
  for (let k = 0; k < reservations; k++) intOf(apply(s[2]!, parseCommand(['RESERVE', a, `inv${k}`, 'TTL', '3600'].map((x) => Buffer.from(x)))));
  const slots = SlotSet.of([slotOf(a)]);
  const begun = apply(s[1]!, cluster('MOVEBEGIN', '2', '3', slots.toBase64()));
  if (begun.type !== 'bulk') throw new Error(JSON.stringify(begun));
  const m = String((JSON.parse(begun.value.toString()) as { epoch: number }).epoch);
  apply(s[2]!, cluster('FREEZE', m, slots.toBase64()));
  return { s, a, m, slots: slots.toBase64(), pages: exportPages(s[2]!, slots) };
}

function exportPages(kv: KvReader, slots: SlotSet): Page[] {
  const pages: Page[] = [];
  for (let after: Buffer = Buffer.alloc(0); ;) {
    const p = exportSlotPage(kv, slots, after);
    pages.push({ data: p.data.toString('base64'), after: after.length === 0 ? '-' : after.toString('base64'), count: BigInt(p.count) });
    if (p.done) return pages;
    after = p.last;
  }
}

/** Entries of the slot's data, by what they mean: token serials (an install order) left out. */
function content(kv: KvReader): string[] {
  return [...kv.scan(Buffer.alloc(0))]
    .filter((e) => e.key[0] !== 0x00 && e.key[0] !== 0x03)
    .map((e) => (e.key[0] === 0x02 ? `token ${e.key.toString('hex')}` : `${e.key.toString('hex')}=${e.value.toString('hex')}`));
}

/** Sends the pages with the given op per part, then IMPORTDONE; returns the target. */
function importWith(target: MemoryKv, m: string, slots: string, pages: readonly Page[], opOf: (k: number) => string): CommandResult {
  for (const [k, p] of pages.entries()) {
    const r = apply(target, cluster(opOf(k), m, slots, String(k), p.after, p.data));
    if (intOf(r) !== p.count) throw new Error(`part ${k}: ${JSON.stringify(r)}`);
  }
  const total = pages.reduce((n, p) => n + p.count, 0n);
  return apply(target, cluster('IMPORTDONE', m, slots, String(pages.length), String(total)));
}

test('IMPORTLIVE installs each part as it arrives, serves nothing before IMPORTDONE, and ends in the IMPORTPART path\'s state', (t) => {
  const { s, a, m, slots, pages } = frozenMove();
  t.true(pages.length >= 3, `${pages.length} pages`);
  const reference = copyOf(s[3]!);
  t.is(intOf(importWith(reference, m, slots, pages, () => 'IMPORTPART')), 1n);

  const target = s[3]!;
  const tokensBefore = stateSummary(target).tokens;
  t.is(intOf(apply(target, cluster('IMPORTLIVE', m, slots, '0', pages[0]!.after, pages[0]!.data))), pages[0]!.count);
  t.true(stateSummary(target).tokens > tokensBefore, 'part 0 is installed at once');
  t.is(codeOf(ownershipRefusal(target, Buffer.from(a))), 'MOVED', 'but not served: the target does not own the slot yet');
  t.is(codeOf(apply(target, inc(a))), 'MOVED');
  for (let k = 1; k < pages.length; k++) apply(target, cluster('IMPORTLIVE', m, slots, String(k), pages[k]!.after, pages[k]!.data));
  t.is(stateSummary(target).tokens - tokensBefore, 1500, 'every part installed before IMPORTDONE');
  t.is(intOf(apply(target, cluster('IMPORTDONE', m, slots, String(pages.length), String(pages.reduce((n, p) => n + p.count, 0n))))), 1n);
  t.deepEqual(dump(target), dump(reference), 'the same state as staged parts installed by IMPORTDONE');
  t.is(intOf(apply(target, inc(a))), 1501n);
});

test('IMPORTLIVE mixed with IMPORTPART in one chain: parts after a staged one are staged too; every mix ends in the same state', (t) => {
  const { s, m, slots, pages } = frozenMove();
  const reference = copyOf(s[3]!);
  importWith(reference, m, slots, pages, () => 'IMPORTPART');
  const mixes: Record<string, (k: number) => string> = {
    'live, then staged (a member rolled back)': (k) => (k === 0 ? 'IMPORTLIVE' : 'IMPORTPART'),
    'staged, then live (a member upgraded)': (k) => (k === 0 ? 'IMPORTPART' : 'IMPORTLIVE'),
    'alternating': (k) => (k % 2 === 0 ? 'IMPORTLIVE' : 'IMPORTPART'),
  };
  for (const [why, opOf] of Object.entries(mixes)) {
    const target = copyOf(s[3]!);
    if (why.startsWith('staged')) {
      apply(target, cluster('IMPORTPART', m, slots, '0', pages[0]!.after, pages[0]!.data));
      apply(target, cluster('IMPORTLIVE', m, slots, '1', pages[1]!.after, pages[1]!.data));
      t.is(stateSummary(target).tokens, stateSummary(s[3]!).tokens, `${why}: a live part after a staged one is staged, not installed`);
    }
    t.is(intOf(importWith(target, m, slots, pages, opOf)), 1n, why);
    t.deepEqual(dump(target), dump(reference), why);
  }
});

test('IMPORTLIVE: part 0 sent again as IMPORTPART drops the installed chain, and IMPORTDONE deletes what it had installed', (t) => {
  const { s, m, slots, pages } = frozenMove();
  const reference = copyOf(s[3]!);
  importWith(reference, m, slots, pages, () => 'IMPORTPART');
  const target = s[3]!;
  for (let k = 0; k < 2; k++) apply(target, cluster('IMPORTLIVE', m, slots, String(k), pages[k]!.after, pages[k]!.data));
  // Another coordinator (an older build) starts the chain over, staged.
  t.is(intOf(importWith(target, m, slots, pages, () => 'IMPORTPART')), 1n);
  // The same data; the token records were installed twice, so their serials (the eviction
  // order's numbering, not its order) run on from the first install's.
  t.deepEqual(content(target), content(reference));
  t.is(stateSummary(target).tokens, stateSummary(reference).tokens);
});

test('REJECT after installed parts: the slot is not served there, the source serves again, and the next import of the slot deletes the leftovers first', (t) => {
  const { s, a, m, slots, pages } = frozenMove();
  const target = s[3]!;
  for (let k = 0; k < 2; k++) apply(target, cluster('IMPORTLIVE', m, slots, String(k), pages[k]!.after, pages[k]!.data));
  const installed = stateSummary(target).tokens;
  t.true(installed > 0);
  t.is(codeOf(apply(target, cluster('REJECT', m, slots))), 'ok', 'installed parts are not an import: REJECT is taken');
  t.is(codeOf(apply(target, cluster('IMPORTLIVE', m, slots, '2', pages[2]!.after, pages[2]!.data))), 'MOVE_REFUSED', 'no part of M after REJECT M');
  t.is(codeOf(apply(target, cluster('IMPORTDONE', m, slots, '2', '1'))), 'MOVE_REFUSED');
  apply(s[1]!, cluster('MOVEABORT', m));
  apply(s[2]!, cluster('UNFREEZE', m, slots));
  apply(s[1]!, cluster('MOVEEND', m));
  t.is(codeOf(apply(target, inc(a))), 'MOVED', 'the leftovers are not served');
  // The source moves on: two more INCs (one with a new token), then the slot moves again.
  t.is(intOf(apply(s[2]!, inc(a))), 1501n);
  t.is(intOf(apply(s[2]!, inc(a, `1000-${a}-new`))), 1502n);
  const again = apply(s[1]!, cluster('MOVEBEGIN', '2', '3', slots));
  if (again.type !== 'bulk') return t.fail(JSON.stringify(again));
  const m2 = String((JSON.parse(again.value.toString()) as { epoch: number }).epoch);
  apply(s[2]!, cluster('FREEZE', m2, slots));
  const pages2 = exportPages(s[2]!, SlotSet.fromBase64(slots)!);
  t.is(intOf(importWith(target, m2, slots, pages2, () => 'IMPORTLIVE')), 1n);
  t.is(stateSummary(target).tokens, 1501, '1,501 token records of the source, none twice');
  t.is(intOf(apply(target, inc(a))), 1503n, 'numbers continue from the source, not from the leftovers');
  t.is(intOf(apply(target, inc(a, `1000-${a}-new`))), 1502n);
});

test('IMPORTLIVE keeps a page\'s series expiry entries staged for IMPORTDONE: a REJECT leaves none behind for the sweep to stall on', (t) => {
  const { s, m, slots, pages } = frozenMove(300);
  const expiry = (kv: KvReader): number => [...kv.scan(Buffer.of(SPACE_SERIES_EXPIRY))].length;
  t.is(expiry(s[2]!), 300);
  const reference = copyOf(s[3]!);
  importWith(reference, m, slots, pages, () => 'IMPORTPART');
  const aborted = copyOf(s[3]!);
  for (const [k, p] of pages.entries()) apply(aborted, cluster('IMPORTLIVE', m, slots, String(k), p.after, p.data));
  t.is(expiry(aborted), 0, 'expiry entries are not installed before IMPORTDONE');
  t.is(codeOf(apply(aborted, cluster('REJECT', m, slots))), 'ok');
  t.is(expiry(aborted), 0, 'nor left behind by REJECT');
  const target = s[3]!;
  t.is(intOf(importWith(target, m, slots, pages, () => 'IMPORTLIVE')), 1n);
  t.is(expiry(target), 300, 'IMPORTDONE installs them');
  t.deepEqual(dump(target), dump(reference));
});

test('a stale RELEASEPAGE of an earlier move is refused while the slot is moving back in with installed parts', (t) => {
  const { s, a, m, slots, pages } = frozenMove();
  t.is(intOf(importWith(s[3]!, m, slots, pages, () => 'IMPORTLIVE')), 1n);
  apply(s[1]!, cluster('MOVECOMMIT', m));
  for (let cursor = '-', n = 0; n < 10; n++) {
    const r = apply(s[2]!, cluster('RELEASEPAGE', m, slots, cursor, '2048'));
    if (r.type !== 'array') return t.fail(JSON.stringify(r));
    if (r.value[3] === 1n) break;
    cursor = (r.value[2] as Buffer).toString('base64');
  }
  apply(s[1]!, cluster('MOVEEND', m));
  t.is(intOf(apply(s[3]!, inc(a))), 1501n);
  // The slot moves back to shard 2.
  const back = apply(s[1]!, cluster('MOVEBEGIN', '3', '2', slots));
  if (back.type !== 'bulk') return t.fail(JSON.stringify(back));
  const m2 = String((JSON.parse(back.value.toString()) as { epoch: number }).epoch);
  apply(s[3]!, cluster('FREEZE', m2, slots));
  const pages2 = exportPages(s[3]!, SlotSet.fromBase64(slots)!);
  for (let k = 0; k < 2; k++) intOf(apply(s[2]!, cluster('IMPORTLIVE', m2, slots, String(k), pages2[k]!.after, pages2[k]!.data)));
  const installed = dump(s[2]!);
  // A coordinator of the first move, slow all along, sends a page now.
  t.is(codeOf(apply(s[2]!, cluster('RELEASEPAGE', m, slots, '-', '2048'))), 'MOVE_REFUSED');
  t.deepEqual(dump(s[2]!), installed, 'the installed parts of the move back are untouched');
  for (let k = 2; k < pages2.length; k++) intOf(apply(s[2]!, cluster('IMPORTLIVE', m2, slots, String(k), pages2[k]!.after, pages2[k]!.data)));
  t.is(intOf(apply(s[2]!, cluster('IMPORTDONE', m2, slots, String(pages2.length), String(pages2.reduce((n, p) => n + p.count, 0n))))), 1n);
  t.is(intOf(apply(s[2]!, inc(a))), 1502n, 'numbers continue, none handed out twice');
  t.is(intOf(apply(s[2]!, inc(a, `1000-${a}-1499`))), 1500n, 'tokens came back');
});
