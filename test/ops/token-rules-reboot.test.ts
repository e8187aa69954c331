/**
 * A member whose own Raft snapshot is at newer token rules than this build (the newer build
 * committed CLUSTER TOKENRULES and took a snapshot), started by this build after an OS restart:
 * the state is discarded (written without fsync) and rebuilt from that snapshot
 * (shard-start.ts), which the startup check had already passed over, so the node served,
 * evicting by older rules than its peers (a review). The check now runs on every snapshot import
 * (snapshot-image.ts restoreStateFromSnapshot).
 */
import test from 'ava';
import { join } from 'node:path';
import { writeFileSync, readFileSync } from 'node:fs';
import { LmdbStore } from '../../node/state-machine/index.ts';
import { setMeta } from '../../node/state-machine/meta.ts';
import { TOKEN_RULES_LATEST } from '../../node/state-machine/options.ts';
import { infoFields } from '../../shared/observability/resp-call.ts';
import { incRetry, seqdb, freePort, sleep } from './helpers.ts';
import { tempDir } from '../helpers/temp-dir.ts';

test('a member whose Raft snapshot is at newer token rules is refused after an OS restart too', async (t) => {
  t.timeout(120_000);
  const dir = join(await tempDir(t, 'seqdb-rules-reboot-'), 'n0');
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const args = ['node', '--shard', '1', '--host', '127.0.0.1', '--port', String(port), '--data', dir, '--join', addr, '--bootstrap-expect', '1', '--log-level', 'info', '--snapshot-entries', '1'];
  const member = seqdb(t, args);
  t.is(await incRetry([addr], 'b', 's', 'tok-0', 30_000), 1n);
  // What a newer build's CLUSTER TOKENRULES leaves in the state (written beside the live node; LMDB is multi-process).
  const side = LmdbStore.open({ path: join(dir, 'lmdb') });
  await side.write((txn) => setMeta(txn, 'tokenRules', BigInt(TOKEN_RULES_LATEST + 1)));
  await side.close();
  t.is((await infoFields(addr, 2000)).token_rules, String(TOKEN_RULES_LATEST + 1));
  // Writes until a snapshot (which exports the state, newer rules included) is taken: the second
  // one seen, since the first may have been exported before the write above (one at a time, so
  // the second started after the first ended, after the write).
  let first = Number((await infoFields(addr, 2000)).first_index);
  let seen = 0;
  let i = 1;
  for (; i < 400 && seen < 2; i++) {
    await incRetry([addr], 'b', 's', `tok-${i}`, 10_000);
    const now = Number((await infoFields(addr, 2000)).first_index);
    if (now > first) (seen++, (first = now));
  }
  t.is(seen, 2, 'a snapshot was taken after the write');
  member.child.kill('SIGKILL');
  await member.exited;

  // Control: a plain restart is refused (the state holds the newer rules).
  const plain = seqdb(t, args);
  await plain.exited;
  t.regex(plain.output(), /newer than this build/);

  // The OS restarted since the state was written without fsync: another boot id in the marker.
  const marker = join(dir, 'lmdb', 'written-by-boot');
  t.truthy(readFileSync(marker, 'latin1'));
  writeFileSync(marker, '00000000-0000-0000-0000-000000000000');
  const again = seqdb(t, args);
  let served = '';
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && again.child.exitCode === null) {
    const f = await infoFields(addr, 1000).catch(() => null);
    if (f && f.role === 'leader') { served = f.token_rules!; break; }
    await sleep(200);
  }
  t.log(again.output().slice(-1500));
  // Expected: refused (STORAGE ... newer than this build), as the plain restart was.
  t.not(served, String(TOKEN_RULES_LATEST + 1), `the node serves a state at token rules ${served} (this build: ${TOKEN_RULES_LATEST})`);
  t.regex(again.output(), /newer than this build/);
});
