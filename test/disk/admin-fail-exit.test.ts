/**
 * `seqdb node` whose admin listener cannot bind (here a privileged --admin-port as a user who may
 * not: EACCES; no fallback for that) AFTER startReplicaNode resolved: run() throws,
 * main() returns 1 and prints `seqdb: listen EADDRNOTAVAIL`, but nothing stops the node. It
 * bootstraps, leads and answers INCs for 2 s, then bin/seqdb.ts's fallback `process.exit()` runs
 * with Raft still writing (snapshots and compactions are async LMDB transactions): the exit lmdb-js
 * issue 336 hangs (shared/exit-now.ts). A process that said it failed must stop serving at once,
 * and must end.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processState } from '../helpers/process-state.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { freePort, sleep } from '../replication/helpers/cluster.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNS = Number(process.env.RUNS ?? 6);

/** Pipelined INCs over one connection, re-dialed while refused; counts the numbers answered after `since()`. */
function load(port: number, failedAt: () => number, stop: () => boolean): Promise<{ answered: number; afterFailure: number }> {
  return new Promise((resolve) => {
    let answered = 0;
    let afterFailure = 0;
    let s: ReturnType<typeof connect> | undefined;
    const watch = setInterval(() => {
      if (!stop()) return;
      clearInterval(watch);
      s?.destroy();
      resolve({ answered, afterFailure });
    }, 100);
    const dial = (): void => {
      if (stop()) return;
      s = connect(port, '127.0.0.1');
      let buf = '';
      const send = (): void => {
        s!.write(Array.from({ length: 64 }, (_, k) => `INC b s${k % 8}\r\n`).join(''));
      };
      s.on('connect', send);
      s.on('data', (d) => {
        buf += d.toString();
        const lines = buf.split('\r\n');
        buf = lines.pop()!;
        let got = 0;
        for (const l of lines) {
          got++;
          if (l.startsWith(':')) {
            answered++;
            if (failedAt() !== 0) afterFailure++;
          }
        }
        if (got > 0 && !stop()) send();
      });
      s.on('error', () => {});
      s.on('close', () => setTimeout(dial, 20));
    };
    dial();
  });
}

async function failedStarts(t: ExecutionContext, argv: (port: number, data: string) => string[], asNobody: boolean): Promise<void> {
  t.timeout(RUNS * 30_000);
  const base = await tempDir(t);
  if (asNobody) chmodSync(base, 0o755);
  const results: string[] = [];
  let servedAfterFailure = 0;
  for (let run = 0; run < RUNS; run++) {
    const port = await freePort();
    const data = join(base, `d${run}`);
    if (asNobody) {
      mkdirSync(data);
      chownSync(data, 65534, 65534);
    }
    const cmd = [process.execPath, 'bin/seqdb.js', ...argv(port, data)];
    const child = spawn(asNobody ? 'setpriv' : cmd[0]!, asNobody ? ['--reuid=65534', '--regid=65534', '--clear-groups', ...cmd] : cmd.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let output = '';
    let failedAt = 0;
    let ended: string | null = null;
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => {
      output += d;
      if (failedAt === 0 && /seqdb: listen/.test(output)) failedAt = Date.now();
    });
    child.on('exit', (code, signal) => (ended = String(code ?? signal)));
    let done = false;
    const loaded = load(port, () => failedAt, () => done || ended !== null);
    for (const deadline = Date.now() + 20_000; ended === null && Date.now() < deadline; ) await sleep(100);
    done = true;
    const l = await loaded;
    if (ended === null) {
      results.push(`HUNG ${((Date.now() - failedAt) / 1000).toFixed(1)} s after 'seqdb: listen ...' (${processState(child.pid!)})`);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('close', r));
    } else {
      results.push(`exit ${ended}`);
    }
    servedAfterFailure += l.afterFailure;
    if (results.at(-1)!.startsWith('HUNG')) {
      t.log(`run ${run}: ${results.at(-1)}`);
      break;
    }
    t.log(`run ${run}: ${results.at(-1)}; INCs answered ${l.answered}, after the failure was printed ${l.afterFailure}; ${`snapshots logged: ${(output.match(/snapshot at/g) ?? []).length}`}`);
  }
  t.deepEqual(results.filter((r) => r.startsWith('HUNG')), [], 'a seqdb node that reported its failure hung in process.exit');
  t.is(servedAfterFailure, 0, 'numbers were handed out by a node that had already reported it failed to start');
}

// As nobody (setpriv, so root only): a privileged --admin-port is EACCES, after the node listens.
const asRoot = process.getuid?.() === 0 ? test.serial : test.skip;

asRoot('seqdb node whose admin port cannot be bound stops serving and exits', (t) =>
  failedStarts(t, (port, data) => ['node', '--shard', 's1', '--host', '127.0.0.1', '--port', String(port), '--data', data,
    '--join', `127.0.0.1:${port}`, '--bootstrap-expect', '1', '--snapshot-entries', '1', '--tick-ms', '10', '--election-ticks', '3',
    '--admin-port', '80'], true));

asRoot('seqdb dev (one node) whose admin port cannot be bound stops serving and exits', (t) =>
  failedStarts(t, (port, data) => ['dev', '--host', '127.0.0.1', '--port', String(port), '--data', data, '--admin-port', '80'], true));
