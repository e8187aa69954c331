/**
 * A fresh shard raises its token rules only once it has its --bootstrap-expect members
 * (node/replication/token-options-sync.ts membersMin). A shard starts as one voter and the other
 * nodes join one by one; a leader that checked before the last had joined switched the shard
 * to rules 2 while that node, standing in for an older build, could not have them (a CI run of
 * token-rules-upgrade.test.ts). Real TokenOptionsSync, PeerFeatures and LMDB store; the Raft node
 * is a stand-in reporting a membership and taking the proposal.
 */
import test from 'ava';
import { LmdbStore } from '../../node/state-machine/index.ts';
import { setTokenOptions } from '../../node/state-machine/token-options.ts';
import { PeerFeatures, FEATURES } from '../../node/replication/peer-features.ts';
import { TokenOptionsSync } from '../../node/replication/token-options-sync.ts';
import type { RaftNode } from '../../node/replication/raft-node.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const FLAGS = { tokenRetentionMs: 60_000, tokensMax: 50 };

async function setup(t: Parameters<typeof tempDir>[0], membersMin: number | undefined) {
  const store = LmdbStore.open({ path: await tempDir(t) });
  t.teardown(() => store.close());
  await store.write((txn) => setTokenOptions(txn, FLAGS)); // options already in step: only the rules are at stake
  const members = { voters: ['a'], learners: [] as string[] };
  const proposed: string[] = [];
  const node = {
    status: () => ({ role: 'leader', conf: members }),
    execute: async (c: { op: string }) => { proposed.push(c.op); return { type: 'ok' }; },
  } as unknown as RaftNode;
  // Every peer answers its probe with every feature of this build.
  const features = new PeerFeatures({
    selfId: 'a', addressOf: (id) => `${id}:1`,
    probe: async (addr) => ({ type: 'probe', nodeId: addr.split(':')[0]!, features: [...FEATURES] }),
  });
  const sync = new TokenOptionsSync({ node: () => node, store, features, flags: FLAGS, log: () => {}, ...(membersMin !== undefined ? { membersMin } : {}) });
  const check = async (): Promise<void> => {
    await sync.check(); // asks the members it does not know yet
    await new Promise((r) => setTimeout(r, 20));
    await sync.check();
  };
  // The stand-in does not apply what it takes, so a later check proposes again: count kinds.
  return { members, proposed: (): string[] => [...new Set(proposed)], check };
}

test('with --bootstrap-expect 3 the rules wait for the third member, then are raised', async (t) => {
  const s = await setup(t, 3);
  await s.check();
  t.deepEqual(s.proposed(), [], 'a shard of one');
  s.members.learners.push('b');
  await s.check();
  t.deepEqual(s.proposed(), [], 'a shard of two: the third may be an older build still joining');
  s.members.learners.push('c');
  await s.check();
  t.deepEqual(s.proposed(), ['tokenrules'], 'all three have the rules');
});

test('a shard of one (no --bootstrap-expect) raises the rules at once', async (t) => {
  const s = await setup(t, undefined);
  await s.check();
  t.deepEqual(s.proposed(), ['tokenrules']);
});
