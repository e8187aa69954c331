/**
 * A review's fuzz (seeded: the test title is the seed) of token rules 2 invariants under slot moves (paged export, delete, re-import),
 * INC/COUNT/RESERVE/INCS/PART, timed (ahead, behind) and opaque tokens, tiny bounds and
 * retention (also < 10 s), through CachedTxn batches with tiny first-windows.
 * Checks after every command: tokens meta == records, tokensHeld == held entries, every record
 * has exactly one order-or-held entry (held key = record's time and serial), no dangling entry;
 * a timed token never gets two numbers; a NEW timed token <= 5 s behind never TOKEN_EXPIRED;
 * the fence stays >= TOKEN_KEEP_BEHIND_MS behind the clock.
 */
import test from 'ava';
import { MemoryKv, StateMachine, decodeCommand, encodeCommand } from '../../node/state-machine/index.ts';
import { SPACE_META, SPACE_SEQUENCE, SPACE_TOKEN, SPACE_TOKEN_HELD, SPACE_TOKEN_ORDER, heldKeyMs } from '../../node/state-machine/keys.ts';
import { setTokenOptions } from '../../node/state-machine/token-options.ts';
import { getMeta } from '../../node/state-machine/meta.ts';
import { decodeRecord } from '../../node/state-machine/tokens.ts';
import { CachedTxn } from '../../node/state-machine/cached-txn.ts';
import { deleteSlotData, exportSlotPage, installSlotData } from '../../node/ownership/slot-data.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { slotOf } from '../../shared/placement/slot.ts';
import { T0, parse, rng, show, fuzzSeeds } from '../helpers/token-log.ts';
import { TOKEN_KEEP_BEHIND_MS } from '../../node/state-machine/options.ts';

function check(kv: MemoryKv): string | null {
  const records = new Map<string, Buffer>();
  const pointed = new Map<string, number>();
  let held = 0;
  const entries = [...kv.entries()];
  for (const e of entries) if (e.key[0] === SPACE_TOKEN) records.set(e.key.toString('hex'), e.value);
  for (const e of entries) {
    if (e.key[0] !== SPACE_TOKEN_ORDER && e.key[0] !== SPACE_TOKEN_HELD) continue;
    const id = e.value.toString('hex');
    const rec = records.get(id);
    if (rec === undefined) return `dangling ${e.key.toString('hex')}`;
    const r = decodeRecord(rec);
    const serial = e.key[0] === SPACE_TOKEN_ORDER ? e.key.readBigUInt64BE(1) : e.key.readBigUInt64BE(9);
    if (serial !== r.serial) return `serial mismatch ${e.key.toString('hex')} vs ${r.serial}`;
    if (e.key[0] === SPACE_TOKEN_HELD) {
      held++;
      if (heldKeyMs(e.key) !== r.timedMs) return `held time mismatch`;
    }
    pointed.set(id, (pointed.get(id) ?? 0) + 1);
  }
  for (const id of records.keys()) if (pointed.get(id) !== 1) return `record ${id} has ${pointed.get(id) ?? 0} entries`;
  if (Number(getMeta(kv, 'tokens')) !== records.size) return `tokens meta ${getMeta(kv, 'tokens')} != ${records.size} records`;
  if (Number(getMeta(kv, 'tokensHeld')) !== held) return `tokensHeld meta ${getMeta(kv, 'tokensHeld')} != ${held} held`;
  return null;
}

const seeds = fuzzSeeds(40);
for (const seed of seeds) {
  test(`invariants seed ${seed} (TOKEN_RULES_SEED=${seed} to replay)`, (t) => {
    const one = run(t, seed, false);
    const two = run(t, seed, true);
    t.deepEqual(two.replies, one.replies);
    t.is(two.dumpA, one.dumpA);
    t.is(two.dumpB, one.dumpB);
  });
}

function dumpKv(kv: MemoryKv): string {
  return [...kv.entries()].map((e) => `${e.key.toString('hex')}=${e.value.toString('hex')}`).join('\n');
}

function run(t: any, seed: number, batched: boolean): { replies: string[]; dumpA: string; dumpB: string } {
    const replies: string[] = [];
    const rb = rng(seed * 31 + 7);
    const r = rng(seed);
    const tokensMax = 1 + r(6);
    const retentionMs = r(2) === 0 ? 500 + r(9000) : 10_000 + r(30_000);
    const evictMax = 1 + r(5);
    const params = `(tokensMax ${tokensMax}, retention ${retentionMs}, evict ${evictMax})`;
    const mk = () => {
      const kv = new MemoryKv();
      setTokenOptions(kv, { tokenRetentionMs: retentionMs, tokensMax });
      const m = new StateMachine({ evictionsPerCommandMax: evictMax });
      let view: CachedTxn | null = null;
      let left = 0;
      const flush = () => { view?.flush(); view = null; left = 0; };
      const apply = (args: string[], ms: number) => {
        if (left === 0) { flush(); view = new CachedTxn(kv, [SPACE_META], [SPACE_TOKEN, SPACE_SEQUENCE], 1 + rb(4)); left = batched ? 1 + rb(6) : 1; }
        left--;
        const d = decodeCommand(encodeCommand(parse(args), ms));
        const res = show(m.apply(view!, d.command, d.timeMs));
        return res;
      };
      return { kv, apply, flush };
    };
    const A = mk();
    const B = mk();
    A.apply(['CLUSTER', 'TOKENRULES', '2'], T0); B.apply(['CLUSTER', 'TOKENRULES', '2'], T0);
    let where = A;
    const first = new Map<string, string>();
    const sent: { args: string[]; bucket: string; timed: boolean }[] = [];
    let now = 0;
    const move = (from: typeof A, to: typeof A, ms: number) => {
      from.flush(); to.flush();
      const slots = SlotSet.of([slotOf('m')]);
      const pages: Buffer[] = [];
      let after: Buffer = Buffer.alloc(0);
      for (;;) {
        const p = exportSlotPage(from.kv, slots, after, 60 + r(200));
        pages.push(p.data);
        from.apply(['INC', 'o', 'x', 'ID', `${T0 + ms - r(3000)}-between${pages.length}`], T0 + ms);
        from.flush();
        after = p.last;
        if (p.done) break;
      }
      deleteSlotData(to.kv, slots);
      for (const d of pages) installSlotData(to.kv, slots, d);
      deleteSlotData(from.kv, slots);
    };
    const moves = [50 + r(150), 250 + r(150), 450 + r(100)];
    for (let i = 0; i < 600; i++) {
      const step = r(5);
      now += step === 0 ? r(12_000) : step === 1 ? 9_990 + r(20) : r(40);
      const ms = now;
      if (moves.includes(i)) { const to = where === A ? B : A; move(where, to, ms); where = to; }
      let args: string[]; let bucket: string; let timed: boolean; let tokenMs: number | undefined; let fresh = false;
      if (r(10) < 3 && sent.length > 0) ({ args, bucket, timed } = sent[r(sent.length)]!);
      else {
        bucket = r(2) === 0 ? 'm' : 'o';
        const f = r(6);
        tokenMs = f === 0 ? T0 + ms + r(59_000) : f === 1 ? T0 + ms - r(5000) : f === 2 ? T0 + ms - r(15_000) : f === 3 ? T0 + ms - r(50) : f === 4 ? T0 + ms - 9_990 - r(20) : undefined;
        timed = tokenMs !== undefined;
        const token = timed ? `${tokenMs}-t${i}` : `op${i}`;
        const c = r(6);
        if (c === 0) args = ['RESERVE', bucket, 'r', 'TTL', '30', 'ID', token];
        else if (c === 1 && timed) args = ['INCS', bucket, `${tokenMs}-${`k${i}`.padEnd(16, 'q')}+2`, 'x', 'y'];
        else if (c === 2 && timed) { const p = r(2); args = ['INC', bucket, p ? 'y' : 'x', 'ID', `${tokenMs}-${`k${i}`.padEnd(16, 'q')}+2`, 'PART', `${p}/2`]; }
        else if (c === 3) args = ['INC', bucket, `s${r(2)}`, 'COUNT', '3', 'ID', token];
        else args = ['INC', bucket, `s${r(2)}`, 'ID', token];
        sent.push({ args, bucket, timed });
        fresh = true;
      }
      const target = bucket === 'm' ? where : A;
      const clock = Math.max(Number(getMeta(target.kv, 'clockMs')), T0 + ms);
      const res = target.apply(args, T0 + ms);
      replies.push(res);
      const key = args.join(' ');
      if (timed && /^[[0-9]/.test(res)) {
        const was = first.get(key);
        if (was !== undefined && was !== res) t.fail(`entry ${i} ${key}: ${res}, earlier ${was} ${params}`);
        first.set(key, res);
      }
      if (fresh && res === 'TOKEN_EXPIRED' && tokenMs !== undefined && clock - tokenMs <= 5000) t.fail(`entry ${i} ${key}: new token ${clock - tokenMs} ms behind refused ${params}`);
      if (rb(3) === 0) {
        for (const s of [A, B]) {
          s.flush();
          const bad = check(s.kv);
          if (bad !== null) { t.fail(`entry ${i} ${s === A ? 'A' : 'B'}: ${bad} ${params}`); break; }
          const fence = Number(getMeta(s.kv, 'evictedTimedMaxMs'));
          if (fence !== 0 && fence > T0 + now - TOKEN_KEEP_BEHIND_MS) { t.fail(`entry ${i}: fence ${fence - T0 - now} ms from the log time ${params}`); break; }
        }
      }
    }
    A.flush(); B.flush();
    return { replies, dumpA: dumpKv(A.kv), dumpB: dumpKv(B.kv) };
}
