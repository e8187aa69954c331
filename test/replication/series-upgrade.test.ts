/**
 * Series commands (RESERVE, CONFIRM, VOID, AUDIT, SEQ.*) are log entries of their own format that
 * a build before issue 12 cannot decode: an older follower would stop at the first one, at every
 * restart, as at an INCS entry. So a leader runs them only once every member announced features
 * (every build that does applies them); with a member that announces none (how an older build
 * looks: incs-upgrade.test.ts) they are refused TRYAGAIN, nothing proposed (a series review).
 */
import test from 'ava';
import { Cluster, command, sleep } from './helpers/cluster.ts';

const OLD = 2;

async function newLeader(c: Cluster): Promise<number> {
  const leader = await c.waitForLeader(3);
  if (leader !== OLD) return leader;
  const target = (await c.info(0))!.node_id!;
  for (let attempt = 0; attempt < 5; attempt++) {
    const reply = (await command(c.nodes[OLD]!.port, ['SEQDB.TRANSFER', target], 5000).catch((err: Error) => err.message)).trim();
    if (reply === '+OK') break;
    await sleep(300);
  }
  return c.waitForLeader(3, 10_000, [0, 1]);
}

test('with a member not known to apply series entries, the leader refuses them TRYAGAIN, nothing proposed', async (t) => {
  const c = await Cluster.start(t, { size: 3, envOf: (i): Record<string, string> => (i === OLD ? { SEQDB_TEST_ANNOUNCE_FEATURES: '' } : {}) });
  const leader = await newLeader(c);
  const port = c.nodes[leader]!.port;
  t.regex(await command(port, ['INC', 'b', 'warm'], 5000), /^:1/);
  let incs = '';
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    incs = await command(port, ['INCS', 'b', `${Date.now()}-abcdefghijklmnop+2`, 'x', 'y'], 2000);
    await sleep(250);
  }
  t.regex(incs, /^-FEATUREOFF /, 'INCS is gated');
  const reserve = await command(port, ['RESERVE', 'b', 'inv', 'TTL', '60'], 5000);
  const audit = await command(port, ['AUDIT', 'b', 'inv', 'FROM', '1', 'TO', '1'], 5000);
  t.regex(reserve, /^-TRYAGAIN /, 'RESERVE is not proposed');
  t.regex(audit, /^-TRYAGAIN /, 'nor AUDIT (a read for the client, but an entry of the log)');
  t.regex(await command(port, ['GET', 'b', 'inv'], 5000), /^\$-1/, 'nothing was taken');
});
