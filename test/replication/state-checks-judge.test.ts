import test from 'ava';
import { crc32 } from 'node:zlib';
import { StateChecks } from '../../node/replication/state-checks.ts';
import { LmdbStore, StateMachine, setAppliedIndex } from '../../node/state-machine/index.ts';
import { tempDir } from '../helpers/temp-dir.ts';

/** A real state store with a few sequences applied; its digest as the node would compute it. */
async function storeWithState(t: Parameters<typeof tempDir>[0]): Promise<{ store: LmdbStore; crc: number }> {
  const store = LmdbStore.open({ path: await tempDir(t), sync: false });
  t.teardown(() => store.close());
  const machine = new StateMachine();
  store.writeNow((txn) => {
    for (let i = 0; i < 50; i++) machine.apply(txn, { type: 'inc', bucket: Buffer.from('b'), sequence: Buffer.from(`s${i % 5}`), count: 1 }, 1_000);
    setAppliedIndex(txn, 20);
  });
  let crc = 0;
  for (const chunk of store.exportSnapshot()) crc = crc32(chunk, crc);
  return { store, crc };
}

/** A probe's digest fields, as StateChecks.announce() makes them. */
function said(list: unknown): { stateChecks: unknown; stateChecksCrc: number } {
  return { stateChecks: list, stateChecksCrc: crc32(JSON.stringify(list) ?? '') };
}

async function digested(checks: StateChecks): Promise<void> {
  checks.checkpoint(20);
  for (let i = 0; i < 100 && checks.announce().stateChecks.length === 0; i++) await new Promise((r) => setImmediate(r));
}

test('the digest is the CRC-32 of the state image as of the checkpoint; equal digests agree', async (t) => {
  const { store, crc } = await storeWithState(t);
  const lines: string[] = [];
  const checks = new StateChecks({ store, log: (l) => lines.push(l), selfId: 'a', voters: () => ['a', 'b', 'c'] });
  await digested(checks);
  t.deepEqual(checks.announce().stateChecks, [[20, crc]]);
  checks.heard('b', said([[20, crc]]));
  checks.heard('c', said([[20, crc], [40, 7]])); // an index not digested here: nothing to compare
  t.deepEqual(checks.counts(), { agreed: 2, mismatches: 0 });
  t.false(checks.damaged());
  t.is(lines.filter((l) => l.includes('state check failed')).length, 0);
});

test('a digest unlike a majority of the voters\' marks this state damaged; a minority\'s only logs', async (t) => {
  const { store, crc } = await storeWithState(t);
  const lines: string[] = [];
  let damagedAt = 0;
  const voters = ['a', 'b', 'c', 'd', 'e'];
  const checks = new StateChecks({ store, log: (l) => lines.push(l), selfId: 'a', voters: () => voters, onDamaged: (i) => { damagedAt = i; } });
  await digested(checks);
  const other = (crc ^ 1) >>> 0;
  checks.heard('b', said([[20, other]]));
  checks.heard('c', said([[20, other]]));
  t.false(checks.damaged(), 'two of five are no majority');
  t.is(checks.counts().mismatches, 2);
  checks.heard('b', said([[20, other]])); // said again: neither counted nor logged again
  t.is(checks.counts().mismatches, 2);
  checks.heard('zz', said([[20, other]])); // not a voter: ignored
  t.false(checks.damaged());
  checks.heard('d', said([[20, other]]));
  t.true(checks.damaged(), 'three of five agree on another digest');
  t.is(damagedAt, 20);
  t.is(checks.info().state_damaged, 20);
  t.is(lines.filter((l) => /differs from node [bcd]'s/.test(l)).length, 3);
  t.is(lines.filter((l) => l.includes('differs from the one a majority')).length, 1);
});

test('a healthy node among a damaged minority is not damaged; malformed lists are ignored', async (t) => {
  const { store, crc } = await storeWithState(t);
  const checks = new StateChecks({ store, log: () => {}, selfId: 'a', voters: () => ['a', 'b', 'c'] });
  await digested(checks);
  for (const junk of [null, 'x', [[20]], [['20', crc]], [[-1, crc]], [[20.5, crc]], {}]) checks.heard('b', said(junk));
  checks.heard('b', {});
  // A digest changed on the way (control requests carry no checksum of their own): not its CRC.
  checks.heard('b', { stateChecks: [[20, (crc ^ 8) >>> 0]], stateChecksCrc: crc32(JSON.stringify([[20, crc]])) });
  t.deepEqual(checks.counts(), { agreed: 0, mismatches: 0 });
  checks.heard('b', said([[20, (crc ^ 4) >>> 0]]));
  checks.heard('c', said([[20, crc]]));
  t.deepEqual(checks.counts(), { agreed: 1, mismatches: 1 });
  t.false(checks.damaged(), 'this node and c agree: b is the damaged one');
});

test('a peer\'s digest heard before this node\'s own is compared once its own is done', async (t) => {
  const { store, crc } = await storeWithState(t);
  const checks = new StateChecks({ store, log: () => {}, selfId: 'a', voters: () => ['a', 'b', 'c'] });
  checks.heard('b', said([[20, crc]]));
  checks.heard('c', said([[20, (crc ^ 2) >>> 0]]));
  t.deepEqual(checks.counts(), { agreed: 0, mismatches: 0 });
  await digested(checks);
  t.deepEqual(checks.counts(), { agreed: 1, mismatches: 1 });
  checks.stop();
  checks.checkpoint(40);
  t.deepEqual(checks.announce().stateChecks, [[20, crc]], 'stopped: no more digests');
});

test('digests are kept for voters only; ids that stopped being voters are dropped', async (t) => {
  const { store, crc } = await storeWithState(t);
  let voters = ['a', 'b', 'c'];
  const checks = new StateChecks({ store, log: () => {}, selfId: 'a', voters: () => voters });
  checks.heard('b', said([[20, crc]]));
  checks.heard('c', said([[20, crc]]));
  t.is(checks.info().state_check_peers, 2);
  for (let i = 0; i < 50; i++) {
    voters = ['a', `r${i}`, `r${i + 1}`]; // nodes replaced one after another
    checks.heard(`r${i + 1}`, said([[20, crc]]));
  }
  t.true(Number(checks.info().state_check_peers) <= 2, String(checks.info().state_check_peers));
});
