/**
 * What the token tests (test/node/token-*.test.ts) share: commands as log entries stamped with a
 * log time, and a replica (a MemoryKv state, founded with given token options, and a state
 * machine with its own flags) that applies them and shows each reply as a short string.
 */
import { MemoryKv, StateMachine, decodeCommand, encodeCommand, parseCommand, type CommandResult, type StateMachineOptions } from '../../node/state-machine/index.ts';
import { setTokenOptions, type StoredTokenOptions } from '../../node/state-machine/token-options.ts';
import { parseClusterCommand } from '../../node/ownership/cluster-command.ts';
import { CachedTxn } from '../../node/state-machine/cached-txn.ts';
import { SPACE_META, SPACE_SEQUENCE, SPACE_TOKEN } from '../../node/state-machine/keys.ts';

/** Log time 0 of the tests, as unix ms. */
export const T0 = 1_700_000_000_000;

/** A reply as a short string: the number, `[a,b]` for an array, the error code, or the type. */
export const show = (r: CommandResult): string => (r.type === 'error' ? r.code : r.type === 'int' ? `${r.value}` : r.type === 'array' ? `[${r.value.join(',')}]` : r.type);

/** Client arguments (`CLUSTER ...` included) as a command. */
export const parse = (args: readonly string[]) => {
  const bufs = args.map((a) => Buffer.from(a));
  return args[0] === 'CLUSTER' ? parseClusterCommand(bufs) : parseCommand(bufs);
};

/** A log entry of the command `args`, stamped T0 + ms. */
export const entry = (ms: number, ...args: string[]): Uint8Array => encodeCommand(parse(args), T0 + ms);

/** Every key and value of a state, for comparing replicas byte for byte. */
export const dump = (kv: MemoryKv): string => [...kv.entries()].map((e) => `${e.key.toString('hex')}=${e.value.toString('hex')}`).join('\n');

/** A replica: its own flags, a state founded with `founder`'s token options (null: none stored). */
export function replica(flags: StateMachineOptions, founder: StoredTokenOptions | null) {
  const kv = new MemoryKv();
  if (founder !== null) setTokenOptions(kv, founder);
  const machine = new StateMachine(flags);
  return {
    kv,
    apply: (e: Uint8Array): string => {
      const d = decodeCommand(e);
      return show(machine.apply(kv, d.command, d.timeMs));
    },
  };
}

/** A fuzz seed's log as entries, its options, and one replica (state, machine) founded with them. */
export function fuzzReplica(log: readonly { args: readonly string[]; timeMs: number }[], p: { tokensMax: number; retentionMs: number; evictionsMax: number }) {
  const entries = log.map((l) => encodeCommand(parse(l.args), l.timeMs));
  const opts = { evictionsPerCommandMax: p.evictionsMax };
  const kv = new MemoryKv();
  setTokenOptions(kv, { tokenRetentionMs: p.retentionMs, tokensMax: p.tokensMax });
  return { entries, opts, kv, machine: new StateMachine(opts) };
}

/** A small seeded generator: `r(n)` is in [0, n). The same seed gives the same sequence. */
export function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** The token records of a state (what the `tokens` meta must count). */
export function tokenRecords(kv: MemoryKv): number {
  let records = 0;
  for (const e of kv.entries()) if (e.key[0] === SPACE_TOKEN) records++;
  return records;
}

/**
 * Applies `entries` to a fresh state in random batches through CachedTxn with tiny first-windows
 * (as a leader batching otherwise than a follower would): the replies and the state, to compare
 * with one command per transaction.
 */
export function applyBatched(entries: readonly Uint8Array[], options: StateMachineOptions, founder: StoredTokenOptions, seed: number): { replies: string[]; kv: MemoryKv } {
  const r = rng(seed);
  const kv = new MemoryKv();
  setTokenOptions(kv, founder);
  const machine = new StateMachine(options);
  const replies: string[] = [];
  for (let i = 0; i < entries.length;) {
    const n = 1 + r(8);
    const view = new CachedTxn(kv, [SPACE_META], [SPACE_TOKEN, SPACE_SEQUENCE], 1 + r(4));
    for (let j = 0; j < n && i < entries.length; j++, i++) {
      const d = decodeCommand(entries[i]!);
      replies.push(show(machine.apply(view, d.command, d.timeMs)));
    }
    view.flush();
  }
  return { replies, kv };
}

/**
 * The seeds a token fuzz runs: TOKEN_RULES_SEED=<n> replays one; TOKEN_RULES_SEEDS=<n> runs 1..n
 * (a longer run by hand); else 1..`count`. The suite's counts are kept small: these are pure CPU,
 * and they share the box with the suite's real-process tests, whose elections they slowed.
 */
export function fuzzSeeds(count: number): number[] {
  if (process.env.TOKEN_RULES_SEED !== undefined) return [Number(process.env.TOKEN_RULES_SEED)];
  const n = process.env.TOKEN_RULES_SEEDS !== undefined ? Number(process.env.TOKEN_RULES_SEEDS) : count;
  return Array.from({ length: n }, (_, i) => i + 1);
}
