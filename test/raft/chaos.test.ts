// A small seeded chaos run of the core alone (the full simulator lives in test/sim/): random
// delivery order, drops, duplicates, partitions, crashes losing unpersisted state, compaction,
// transfers and proposals; safety checked after every step, liveness after healing.
import test from 'ava';
import type { Entry, Message } from '../../node/raft/types.ts';
import { MemoryStorage } from '../../node/raft/memory-storage.ts';
import { Network, enc, seededRng } from './helpers/network.ts';

const IDS = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
const TRACE = process.env['RAFT_CHAOS_TRACE'];
const INITIAL = { voters: ['n1', 'n2', 'n3', 'n4', 'n5'], learners: [] };

function runSeed(seed: number): void {
  const rnd = seededRng(seed * 7919);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  // Config variants by environment (default: both protections on), for one-off wider runs.
  const opts = {
    electionTimeoutTicks: 10,
    maxMsgBytes: 64,
    maxInflightMsgs: 4,
    preVote: process.env['RAFT_CHAOS_PREVOTE'] !== '0',
    checkQuorum: process.env['RAFT_CHAOS_CHECKQUORUM'] !== '0',
  };
  const net = new Network(IDS, opts, seed, INITIAL);
  // n6 starts outside the group, with an empty log; it may be added, promoted, and some voter removed.
  net.add('n6', new MemoryStorage(), opts);
  const committed = new Map<number, string>(); // index -> term:data, as applied anywhere
  const leaderOf = new Map<number, string>();
  const lastTerm = new Map<string, number>();
  let proposals = 0;
  let removed = false;
  const confLog: string[] = [];

  const checkApplied = (id: string, ents: readonly Entry[]) => {
    for (const e of ents) {
      const key = `${e.term}:${new TextDecoder().decode(e.data)}`;
      const prev = committed.get(e.index);
      if (prev !== undefined && prev !== key) throw new Error(`seed ${seed}: ${id} applied ${key} at ${e.index}, others ${prev}`);
      committed.set(e.index, key);
    }
  };
  const drain = (id: string) => {
    const rd = net.drain(id);
    if (rd && TRACE === id) console.log(`ready ${id}: ents=${rd.entries.map((e) => `${e.index}@${e.term}`).join(',')} committed=${rd.committedEntries.map((e) => `${e.index}@${e.term}`).join(',')} hs=${JSON.stringify(rd.hardState)} snap=${rd.snapshot?.meta.index}`);
    if (rd) checkApplied(id, rd.committedEntries);
    if (rd) checkDurable(id, rd.committedEntries);
    if (!net.raw(id).hasReady()) checkSettled(id);
    return rd;
  };
  // Ready contract: every entry handed out to apply is already durable in this node's storage.
  const checkDurable = (id: string, ents: readonly Entry[]) => {
    const st = net.get(id).storage;
    for (const e of ents) {
      if (st.term(e.index) !== e.term) throw new Error(`seed ${seed}: ${id} applies ${e.index}@${e.term} not durable (stored term ${st.term(e.index)})`);
    }
  };
  // With no Ready pending, the stored term, vote and commit are the node's own: nothing unpersisted hides.
  const checkSettled = (id: string) => {
    const s = net.raw(id).status();
    const hs = net.get(id).storage.initialState().hardState;
    if (hs.term !== s.term || hs.vote !== s.vote) throw new Error(`seed ${seed}: ${id} term/vote ${s.term}/${s.vote} not persisted (${hs.term}/${hs.vote})`);
    if (s.applied > s.commit || s.commit > s.lastIndex) throw new Error(`seed ${seed}: ${id} applied ${s.applied} commit ${s.commit} last ${s.lastIndex}`);
  };
  const drainAll = () => {
    for (const id of IDS) while (drain(id));
  };
  const check = () => {
    for (const id of IDS) {
      const s = net.raw(id).status();
      if (s.role === 'leader') {
        const l = leaderOf.get(s.term);
        if (l !== undefined && l !== id) throw new Error(`seed ${seed}: two leaders in term ${s.term}: ${l}, ${id}`);
        leaderOf.set(s.term, id);
      }
      if (s.term < (lastTerm.get(id) ?? 0)) throw new Error(`seed ${seed}: ${id} term went back`);
      lastTerm.set(id, s.term);
    }
  };
  const deliverOne = (allowDrop: boolean) => {
    if (net.queue.length === 0) return;
    const i = Math.floor(rnd() * net.queue.length);
    const m = net.queue[i]!;
    const r = rnd();
    if (allowDrop && r < 0.1) {
      net.queue.splice(i, 1);
      return;
    }
    if (!(allowDrop && r < 0.15)) net.queue.splice(i, 1); // else: duplicate (kept for later)
    if (cut.has(`${m.from}->${m.to}`)) return;
    if (TRACE && (m.to === TRACE || m.from === TRACE)) console.log(`deliver ${m.type} ${m.from}->${m.to} t${m.term} i${m.index} lt${m.logTerm} c${m.commit} rej${m.reject} h${m.rejectHint} ents=${m.entries.map((e) => `${e.index}@${e.term}`).join(',')}${m.snapshot ? ' snap@' + m.snapshot.meta.index : ''}`);
    net.raw(m.to).step(m as Message);
    if (TRACE && m.to === TRACE) console.log('  ->', JSON.stringify(net.raw(TRACE).status()));
    while (drain(m.to));
  };
  const cut = new Set<string>();

  for (let step = 0; step < 1500; step++) {
    const r = rnd();
    if (r < 0.2) {
      for (const id of IDS) net.raw(id).tick();
      drainAll();
    } else if (r < 0.75) {
      for (let k = 0; k < 10; k++) deliverOne(true);
    } else if (r < 0.88) {
      const l = IDS.find((id) => net.raw(id).status().role === 'leader');
      if (l !== undefined) {
        try {
          for (let k = Math.floor(rnd() * 4); k >= 0; k--) net.raw(l).propose(enc(`p${proposals++}`));
        } catch {
          // refused (transfer, bounds): fine
        }
        drain(l);
      }
    } else if (r < 0.9) {
      const l = IDS.find((id) => net.raw(id).status().role === 'leader');
      if (l !== undefined) {
        const conf = net.raw(l).status().conf;
        const cc = !conf.voters.includes('n6') && !conf.learners.includes('n6') && !removed
          ? { type: 'addLearner' as const, nodeId: 'n6' }
          : conf.learners.includes('n6')
            ? { type: 'promote' as const, nodeId: 'n6' }
            : conf.voters.length > 4
              ? { type: 'remove' as const, nodeId: pick(conf.voters) }
              : undefined;
        if (cc === undefined) continue;
        try {
          net.raw(l).proposeConfChange(cc);
          confLog.push(`${cc.type}:${cc.nodeId}`);
          if (cc.type === 'remove') removed = true;
        } catch (e) {
          // NOT_READY, CONF_CHANGE_PENDING, INVALID: fine
          confLog.push(String((e as { code?: string }).code));
        }
        drain(l);
      }
    } else if (r < 0.93) {
      cut.clear();
      if (rnd() < 0.6) {
        const a = pick(IDS);
        for (const b of IDS) if (b !== a && rnd() < 0.7) (cut.add(`${a}->${b}`), cut.add(`${b}->${a}`));
      }
    } else if (r < 0.95) {
      // Crash: sometimes mid-Ready, losing what was not persisted.
      const id = pick(IDS);
      const n = net.raw(id);
      if (rnd() < 0.5 && n.hasReady()) n.ready();
      net.restart(id);
    } else if (r < 0.97) {
      const id = pick(IDS);
      if (net.raw(id).status().applied > net.get(id).storage.firstIndex() + 5) net.compact(id);
    } else if (r < 0.98) {
      const l = IDS.find((id) => net.raw(id).status().role === 'leader');
      if (l !== undefined) net.raw(l).transferLeadership(pick(IDS));
      if (l !== undefined) drain(l);
    } else {
      const l = IDS.find((id) => net.raw(id).status().role === 'leader');
      if (l !== undefined) {
        try {
          net.raw(l).readIndex(`r${step}`);
        } catch {
          // NOT_READY: fine
        }
        drain(l);
      }
    }
    check();
  }
  // Heal: reliable delivery; a leader emerges and a last proposal commits everywhere.
  cut.clear();
  let l: string | undefined;
  for (let i = 0; i < 400 && l === undefined; i++) {
    for (const id of IDS) net.raw(id).tick();
    drainAll();
    while (net.queue.length > 0) deliverOne(false);
    check();
    l = IDS.find((id) => net.raw(id).status().role === 'leader');
    if (l !== undefined && net.raw(l).status().commit === 0) l = undefined;
  }
  if (l === undefined) throw new Error(`seed ${seed}: no leader after healing`);
  let ticket: { index: number; term: number } | undefined;
  for (let i = 0; i < 100 && ticket === undefined; i++) {
    l = IDS.find((id) => net.raw(id).status().role === 'leader') ?? l;
    try {
      ticket = net.raw(l).propose(enc('final'));
    } catch (e) {
      if (process.env['RAFT_CHAOS_VERBOSE'] && i === 99) console.log(e);
      for (const id of IDS) net.raw(id).tick();
      drainAll();
      while (net.queue.length > 0) deliverOne(false);
    }
  }
  if (ticket === undefined) {
    if (process.env['RAFT_CHAOS_VERBOSE']) for (const id of IDS) console.log(JSON.stringify(net.raw(id).status()));
    throw new Error(`seed ${seed}: final proposal never accepted`);
  }
  for (let i = 0; i < 50; i++) {
    for (const id of IDS) net.raw(id).tick();
    drainAll();
    while (net.queue.length > 0) deliverOne(false);
  }
  check();
  const members = net.raw(l).status().conf;
  for (const id of [...members.voters, ...members.learners]) {
    const s = net.raw(id).status();
    if (s.applied < ticket.index) {
      if (process.env["RAFT_CHAOS_VERBOSE"]) console.log(JSON.stringify([s, net.raw(l).status(), net.get(id).storage.firstIndex(), net.get(id).storage.lastIndex()], null, 1));
      throw new Error(`seed ${seed}: ${id} applied ${s.applied} < ${ticket.index}`);
    }
  }
  if (committed.get(ticket.index) !== `${ticket.term}:final`) throw new Error(`seed ${seed}: final proposal lost`);
  if (process.env["RAFT_CHAOS_VERBOSE"]) console.log(`seed ${seed}: ${committed.size} committed, ${leaderOf.size} leader terms, ${proposals} proposals, snaps ${IDS.map((id) => net.get(id).installed.length).join("/")}, conf ${JSON.stringify(net.raw(l).status().conf)} ${confLog.join(' ')}`);
}

test('chaos: 40 seeds of faults keep safety and recover after healing', (t) => {
  const first = Number(process.env['RAFT_CHAOS_SEED'] ?? 1);
  const count = Number(process.env['RAFT_CHAOS_SEEDS'] ?? 40);
  for (let seed = first; seed < first + count; seed++) {
    try {
      runSeed(seed);
    } catch (e) {
      t.log(`failing seed: ${seed} (replay: RAFT_CHAOS_SEED=${seed} RAFT_CHAOS_SEEDS=1)`);
      throw e;
    }
  }
  t.pass();
});
