// Which members can apply a feature's entries (node/replication/peer-features.ts): learned from
// probe replies by node id, asked in the background at most once per retry interval, never
// trusting an answer from another node at the same address.
import test from 'ava';
import { ENTRY_FEATURES, FEATURES, PeerFeatures, checkJoiner } from '../../node/replication/peer-features.ts';
import type { Control } from '../../node/replication/transport.ts';

interface Harness {
  readonly features: PeerFeatures;
  readonly asked: string[];
  answer(addr: string, reply: Control | Error): void;
  advance(ms: number): void;
}

function harness(announce?: readonly string[]): Harness {
  let now = 1_000;
  const asked: string[] = [];
  const pending = new Map<string, { resolve: (c: Control) => void; reject: (e: Error) => void }>();
  const features = new PeerFeatures({
    selfId: 'a',
    addressOf: (id) => (id === 'z' ? undefined : `127.0.0.1:${id.charCodeAt(0)}`),
    probe: (addr) => {
      asked.push(addr);
      return new Promise((resolve, reject) => pending.set(addr, { resolve, reject }));
    },
    retryMs: 2000,
    recheckMs: 10_000,
    nowMs: () => now,
    ...(announce !== undefined ? { announce } : {}),
  });
  return {
    features,
    asked,
    answer: (addr, reply) => {
      const p = pending.get(addr)!;
      pending.delete(addr);
      if (reply instanceof Error) p.reject(reply);
      else p.resolve(reply);
    },
    advance: (ms) => void (now += ms),
  };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const B = '127.0.0.1:98';
const C = '127.0.0.1:99';

test('a lone node, or one whose members all announced the feature, may use it; until then the others are asked once', async (t) => {
  const h = harness();
  t.true(h.features.allHave('incs', ['a']), 'only this node');
  t.false(h.features.allHave('incs', ['a', 'b', 'c']));
  t.false(h.features.allHave('incs', ['a', 'b', 'c']));
  t.deepEqual(h.asked, [B, C], 'each asked once while the question is open');
  h.answer(B, { nodeId: 'b', features: [...FEATURES] });
  await settle();
  t.false(h.features.allHave('incs', ['a', 'b', 'c']), 'c has not answered');
  h.answer(C, { nodeId: 'c', features: [...FEATURES, 'later'] });
  await settle();
  t.true(h.features.allHave('incs', ['a', 'b', 'c']));
  h.advance(9_999);
  t.true(h.features.allHave('incs', ['a', 'b', 'c']));
  t.deepEqual(h.asked, [B, C], 'a member seen with the feature is not asked again before recheckMs');
});

test('a member is asked again after recheckMs; its newest answer wins (restarted on an older build: no); silence keeps the last answer', async (t) => {
  const h = harness();
  h.features.allHave('incs', ['a', 'b', 'c']);
  h.answer(B, { nodeId: 'b', features: [...FEATURES] });
  h.answer(C, { nodeId: 'c', features: [...FEATURES] });
  await settle();
  t.true(h.features.allHave('incs', ['a', 'b', 'c']));
  h.advance(10_000);
  t.true(h.features.allHave('incs', ['a', 'b', 'c']), 'still yes while the recheck is out');
  t.deepEqual(h.asked, [B, C, B, C]);
  h.answer(B, new Error('control connection closed')); // down: keeps its yes
  h.answer(C, { nodeId: 'c', initialized: true }); // rolled back in place: an older build's reply
  await settle();
  t.false(h.features.allHave('incs', ['a', 'b', 'c']), 'c said no');
  t.true(h.features.allHave('incs', ['a', 'b']), 'b, unreachable, keeps what it said');
});

test('an older member (no features field) or another node at the address: no, asked again after retryMs', async (t) => {
  const h = harness();
  t.false(h.features.allHave('incs', ['a', 'b', 'c']));
  h.answer(B, { nodeId: 'b', initialized: true }); // what an older version's probe reply looks like
  h.answer(C, { nodeId: 'x', features: ['incs'] }); // someone else now listens at c's address
  await settle();
  t.false(h.features.allHave('incs', ['a', 'b', 'c']), "x's answer says nothing about c");
  h.advance(1999);
  t.false(h.features.allHave('incs', ['a', 'b', 'c']));
  t.deepEqual(h.asked, [B, C], 'not before retryMs');
  h.advance(1);
  t.false(h.features.allHave('incs', ['a', 'b', 'c']));
  t.deepEqual(h.asked, [B, C, B, C]);
  h.answer(B, { nodeId: 'b', features: ['incs'] }); // upgraded meanwhile
  h.answer(C, { nodeId: 'c', features: ['incs'] });
  await settle();
  t.true(h.features.allHave('incs', ['a', 'b', 'c']));
});

test('a failed probe is asked again after failRetryMs, doubling with each failure in a row up to retryMs; an answer starts over', async (t) => {
  const h = harness();
  const askAfter = async (ms: number, label: string): Promise<void> => {
    h.answer(C, new Error('connect ECONNREFUSED'));
    await settle();
    const before = h.asked.length;
    h.advance(ms - 1);
    h.features.allHave('incs', ['a', 'c']);
    t.is(h.asked.length, before, `not before ${ms} ms (${label})`);
    h.advance(1);
    h.features.allHave('incs', ['a', 'c']);
    t.is(h.asked.length, before + 1, `asked again after ${ms} ms (${label})`);
  };
  t.false(h.features.allHave('incs', ['a', 'c']));
  for (const [i, ms] of [100, 200, 400, 800, 1600, 2000, 2000].entries()) await askAfter(ms, `failure ${i + 1}`);
  h.answer(C, { nodeId: 'c', initialized: true }); // answers at last, an older build
  await settle();
  h.advance(2000);
  t.false(h.features.allHave('incs', ['a', 'c']));
  await askAfter(100, 'the count starts over after an answer');
});

test('a member the leader adds is known from what it announced when asked to join; a later answer replaces it', async (t) => {
  const h = harness();
  h.features.joined('b', [...FEATURES, 'later']);
  h.features.joined('a', []); // this node: never noted
  t.true(h.features.allHave('incs', ['a', 'b']), 'known without being asked');
  t.deepEqual(h.asked, []);
  t.deepEqual(h.features.saved(), { b: [...FEATURES] }, 'only features this version knows are kept');
  h.features.joined('c', ['incs']); // a bootstrap peer of an older build
  t.false(h.features.allHave('tokenrules', ['a', 'b', 'c']));
  h.advance(10_000);
  t.true(h.features.allHave('incs', ['a', 'b']));
  h.answer(B, { nodeId: 'b', features: [] }); // rolled back in place
  await settle();
  t.false(h.features.allHave('incs', ['a', 'b']));
});

test('nodes noted but not members (joiners never added, removed members) are dropped once they pass a bound', (t) => {
  const h = harness();
  h.features.joined('b', [...FEATURES]);
  for (let i = 0; i < 64; i++) h.features.joined(`gone${i}`, [...FEATURES]);
  t.true(h.features.allHave('incs', ['a', 'b']));
  t.is(Object.keys(h.features.saved()).length, 65, 'within the bound: kept');
  h.features.joined('gone64', [...FEATURES]); // 66 noted: members (2) + the slack (64)
  t.true(h.features.allHave('incs', ['a', 'b']));
  t.is(Object.keys(h.features.saved()).length, 66, 'at the bound: kept');
  h.features.joined('gone65', [...FEATURES]);
  t.true(h.features.allHave('incs', ['a', 'b']));
  t.deepEqual(Object.keys(h.features.saved()), ['b'], 'past it: only members are kept');
});

test('a member whose address is not known yet counts as not having it; announced features are this version\'s unless overridden', (t) => {
  const h = harness();
  t.false(h.features.allHave('incs', ['a', 'z']));
  t.deepEqual(h.asked, []);
  t.deepEqual(h.features.announced(), [...FEATURES]);
  t.deepEqual(harness([]).features.announced(), []);
});

test('what members said is kept across a restart (known / saved), and a newer answer replaces it', async (t) => {
  const first = harness();
  first.features.allHave('incs', ['a', 'b', 'c']);
  first.answer('127.0.0.1:98', { nodeId: 'b', features: [...FEATURES] });
  first.answer('127.0.0.1:99', { nodeId: 'c', features: ['incs'] });
  await new Promise((r) => setImmediate(r));
  const saved = first.features.saved();
  t.deepEqual(Object.keys(saved).sort(), ['b', 'c']);
  let asked = 0;
  const again = new PeerFeatures({ selfId: 'a', addressOf: () => undefined, probe: async () => { asked++; return {}; }, known: { ...saved, x: ['not-a-feature'] } });
  t.true(again.allHave('incs', ['a', 'b', 'c']), 'b and c are known to apply INCS though nobody answered since');
  t.false(again.allHave('tokenoptions', ['a', 'b', 'c']), 'c did not say tokenoptions');
  t.deepEqual(again.saved().x, undefined, 'unknown features are not kept');
  t.is(asked, 0);
});

test('a member that says its features in its own probe request is known without being asked; others say nothing', async (t) => {
  const h = harness();
  const members = ['a', 'b', 'c'];
  h.features.heard('b', [...FEATURES], members);
  h.features.heard('c', undefined, members); // an older build, or a tool's probe: no field
  h.features.heard('d', [...FEATURES], members); // not a member: what anyone may send must not grow the table
  t.false(h.features.allHave('incs', members), 'c said nothing');
  t.deepEqual(h.asked, [C], 'b, just heard from, is not asked');
  t.deepEqual(Object.keys(h.features.saved()).sort(), ['b']);
  h.features.heard('c', ['incs', 'tokenoptions', 'later'], members);
  t.true(h.features.allHave('incs', members));
  h.features.heard('b', [], members); // restarted on a build without them: its newest word wins
  t.false(h.features.allHave('incs', members));
  h.answer(C, { nodeId: 'c', features: [...FEATURES] });
  await settle();
});

// A node standing in for an older build (announce) lacks what it does not announce, also when it
// leads: in a CI run the token-rules-upgrade stand-in was elected and switched the shard to rules 2.
test('a node that does not announce a feature does not have it, whatever its members said', async (t) => {
  const h = harness(['incs']);
  t.false(h.features.allHave('tokenrules', ['a']), 'alone');
  h.features.allHave('tokenrules', ['a', 'b']);
  h.answer(B, { nodeId: 'b', features: [...FEATURES] });
  await settle();
  t.false(h.features.allHave('tokenrules', ['a', 'b']));
  t.true(h.features.allHave('incs', ['a', 'b']), 'what it announces, it has');
});

test('has(): one peer, asked in the background; framesums only once it said so, never for a stand-in of an older build', async (t) => {
  const h = harness();
  t.false(h.features.has('b', 'framesums'), 'not known yet');
  t.deepEqual(h.asked, [B]);
  t.false(h.features.has('b', 'framesums'));
  t.deepEqual(h.asked, [B], 'asked once while the question is open');
  h.answer(B, { nodeId: 'b', features: ['incs'] }); // a build before checksummed frames
  await settle();
  t.false(h.features.has('b', 'framesums'));
  h.advance(2_000);
  t.false(h.features.has('b', 'framesums'));
  h.answer(B, { nodeId: 'b', features: [...FEATURES] }); // upgraded meanwhile
  await settle();
  t.true(h.features.has('b', 'framesums'));
  const older = harness(['incs', 'tokenoptions', 'tokenrules']);
  older.features.allHave('incs', ['a', 'b']);
  older.answer(B, { nodeId: 'b', features: [...FEATURES] });
  await settle();
  t.false(older.features.has('b', 'framesums'), 'a node standing in for an older build sends plain frames');
});

test('a joiner needs every feature with log entries, not framesums: a build before checksummed frames joins and is sent plain ones', async (t) => {
  const previous = [...ENTRY_FEATURES];
  const ok = await checkJoiner(async () => ({ nodeId: 'n4', features: previous }), 'n4', '127.0.0.1:9');
  t.deepEqual(ok, { ok: true, features: previous });
  const older = await checkJoiner(async () => ({ nodeId: 'n4', features: ['incs'] }), 'n4', '127.0.0.1:9');
  t.false(older.ok);
  // The build before RELEASEPAGE: its follower would stop at the first such entry.
  const beforePagedRelease = await checkJoiner(async () => ({ nodeId: 'n4', features: ['incs', 'tokenoptions', 'tokenrules', 'framesums'] }), 'n4', '127.0.0.1:9');
  t.false(beforePagedRelease.ok);
  t.deepEqual([...ENTRY_FEATURES, 'framesums'], [...FEATURES]);
});
