/**
 * A disk that fails (EIO) under `seqdb dev` (one node, every batch fsynced): the state's LMDB
 * commits fail in the real process (io-fault.c with LD_PRELOAD). No INC of a failed commit is
 * answered with a number; the node refuses everything from then on (STORAGE, INFO
 * storage_failed:1) and stays up; restarted on a healed disk it holds exactly the acknowledged
 * numbers, and the failed INCs retried with their ID tokens take the next ones: no number lost,
 * given twice or skipped.
 */
import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { startDev } from '../helpers/dev-process.ts';
import { ioFault, ioFaultLibrary } from '../helpers/io-fault.ts';
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { command } from '../replication/helpers/cluster.ts';

const lib = ioFaultLibrary();
const CONNECTIONS = 4;
const DEPTH = 16;

/** Pipelined INCs with ID tokens on one connection until a round has a refusal. */
async function incUntilRefused(port: number, conn: number, acked: Map<string, bigint>, refused: Map<string, string>, armAfter: () => void): Promise<void> {
  const c = await RespClient.connect(port);
  try {
    for (let round = 0; round < 1000; round++) {
      const tokens = Array.from({ length: DEPTH }, (_, k) => `c${conn}-r${round}-${k}`);
      c.write(Buffer.concat(tokens.map((tok) => encodeRequest('INC', 'b', 's', 'ID', tok))));
      for (const tok of tokens) {
        const reply = (await c.next(10_000)).trim();
        if (reply.startsWith(':')) acked.set(tok, BigInt(reply.slice(1)));
        else refused.set(tok, reply);
      }
      armAfter();
      if (refused.size > 0 && [...refused.keys()].some((tok) => tok.startsWith(`c${conn}-`))) return;
    }
  } finally {
    c.socket.destroy();
  }
}

// `sync`: the pages are written, their fdatasync fails (the commit must not count).
for (const ops of ['write,sync', 'sync']) {
  (lib === null ? test.skip : test)(`seqdb dev on a disk whose ${ops} calls fail (EIO): nothing answered for a failed commit; healed and restarted, the failed INCs retried take the next numbers`, (t) => failingCommits(t, ops));
}

async function failingCommits(t: ExecutionContext, ops: string): Promise<void> {
  t.timeout(90_000);
  const dir = await tempDir(t);
  const dataDir = join(dir, 'data');
  const fault = ioFault(lib!, dir, `${dataDir}/`, ops);
  const dev = await startDev(t, dataDir, [], 20_000, fault.env);

  const acked = new Map<string, bigint>();
  const refused = new Map<string, string>();
  let armed = false;
  const armAfter = (): void => {
    if (!armed && acked.size >= 2000) (armed = true), fault.arm();
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => incUntilRefused(dev.port, i, acked, refused, armAfter)));
  t.true(armed, `armed after ${acked.size} INCs`);
  t.true(refused.size > 0);
  for (const [tok, reply] of refused) t.regex(reply, /^-ERR storage failed/, `${tok}: ${reply}`);
  t.log(`${acked.size} INCs acknowledged, ${refused.size} refused once the disk failed`);

  // Up, refusing everything, and saying so.
  t.is(await command(dev.port, ['PING']), '+PONG\r\n');
  t.regex(await command(dev.port, ['INC', 'b', 's', 'ID', 'late']), /^-ERR storage failed/);
  t.regex(await command(dev.port, ['INFO']), /storage_failed:1/);

  // The disk heals; a restart reopens the store from what reached it.
  fault.heal();
  dev.child.kill('SIGTERM');
  t.is(await dev.exited, 0, dev.output().slice(-2000));
  const again = await startDev(t, dataDir);
  t.regex(await command(again.port, ['INFO']), /storage_failed:0/);
  const max = [...acked.values()].reduce((a, b) => (b > a ? b : a), 0n);
  t.is((await command(again.port, ['GET', 'b', 's'])).trim(), `:${max}`, 'every acknowledged number, none of a failed commit');
  for (const [tok, value] of [...acked].slice(-20)) t.is((await command(again.port, ['INC', 'b', 's', 'ID', tok])).trim(), `:${value}`, `${tok} keeps its number`);
  const retried: bigint[] = [];
  for (const tok of [...refused.keys(), 'late']) retried.push(BigInt((await command(again.port, ['INC', 'b', 's', 'ID', tok])).trim().slice(1)));
  const all = [...acked.values(), ...retried].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  t.is(new Set(all).size, all.length, 'no number given twice');
  t.deepEqual(all, all.map((_, i) => BigInt(i + 1)), 'no number skipped');
}

// LMDB's meta-page write alone fails (a ~150-byte write; data pages are fine): LMDB then refuses
// every transaction, reads included (MDB_PANIC), and INFO, which reads the store, answered an
// error instead of saying why the node refuses everything (a review).
(lib === null ? test.skip : test)('seqdb dev whose LMDB meta-page write fails (EIO): INC refused, the node up, INFO says storage_failed:1', async (t) => {
  t.timeout(60_000);
  const dir = await tempDir(t);
  const dataDir = join(dir, 'data');
  const fault = ioFault(lib!, dir, `${dataDir}/lmdb/data.mdb`, 'write', 1024);
  const dev = await startDev(t, dataDir, [], 20_000, fault.env);
  t.is(await command(dev.port, ['INC', 'b', 's']), ':1\r\n');
  fault.arm();
  t.regex(await command(dev.port, ['INC', 'b', 's', 'ID', 'meta']), /^-ERR storage failed/);
  fault.heal();
  t.is(dev.child.exitCode, null, 'the node stays up');
  t.regex(await command(dev.port, ['INFO']), /storage_failed:1/);
  dev.child.kill('SIGTERM');
  await dev.exited;
  const again = await startDev(t, dataDir);
  t.is(await command(again.port, ['INC', 'b', 's', 'ID', 'meta']), ':2\r\n');
});
