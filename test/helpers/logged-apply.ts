/**
 * Commands applied as a replica applies them: through the log encoding, with a log time that
 * moves on by 1 ms per command (one StateMachine per test file), plus builders of the commands
 * the slot-move and backup tests send.
 */
import { readCatalog } from '../../node/ownership/catalog.ts';
import { parseClusterCommand } from '../../node/ownership/cluster-command.ts';
import { markSharded } from '../../node/ownership/ownership.ts';
import { copyKv } from './kv-copy.ts';
import { MemoryKv, StateMachine, decodeCommand, encodeCommand, type Command, type CommandResult, type KvTxn } from '../../node/state-machine/index.ts';

const machine = new StateMachine();
let clockMs = 1_000;

export function apply(kv: KvTxn, c: Command): CommandResult {
  const d = decodeCommand(encodeCommand(c, clockMs++));
  return machine.apply(kv, d.command, d.timeMs);
}

/** `CLUSTER <args>` as a command. */
export function cluster(...args: string[]): Command {
  return parseClusterCommand(['CLUSTER', ...args].map((x) => Buffer.from(x)));
}

/** `INC <bucket> s [ID <id>]`. */
export function inc(bucket: string, id?: string): Command {
  return { type: 'inc', bucket: Buffer.from(bucket), sequence: Buffer.from('s'), count: 1, ...(id ? { token: Buffer.from(id) } : {}) };
}

export type Shards = Record<string, MemoryKv>;

let threeShardsBase: Shards | null = null;

/**
 * Shards 1, 2 and 3 of one catalog (shard 1 holds it): 1 and 2 own every slot, 3 registered
 * later owns none. Fresh copies of one set-up state, made once per test file.
 */
export function threeShards(): Shards {
  if (threeShardsBase === null) {
    const s: Shards = { 1: new MemoryKv(), 2: new MemoryKv(), 3: new MemoryKv() };
    for (const id of ['1', '2', '3']) markSharded(s[id]!, id);
    apply(s[1]!, cluster('REGISTER', '1', '127.0.0.1:1'));
    apply(s[1]!, cluster('REGISTER', '2', '127.0.0.1:2'));
    apply(s[1]!, cluster('INITSLOTS'));
    apply(s[1]!, cluster('REGISTER', '3', '127.0.0.1:3'));
    const view = readCatalog(s[1]!);
    for (const id of ['1', '2', '3']) apply(s[id]!, cluster('SETSLOTS', id, String(view.epoch), view.shards.find((x) => x.id === id)!.slots.toBase64()));
    threeShardsBase = s;
  }
  const copy: Shards = {};
  for (const [id, kv] of Object.entries(threeShardsBase)) copy[id] = copyKv(kv);
  return copy;
}
