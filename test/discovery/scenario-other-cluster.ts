/**
 * Inside a private network namespace (lo only): cluster "a" = one node of shard 1 (127.0.0.1:7111)
 * and a router of cluster "a" found by mDNS. The node dies; a node of cluster "b" (fresh data)
 * starts on the same address, as an operator reusing the default port would. What does the
 * router of cluster "a" answer to INC now?
 */
import { join } from 'node:path';
import { assertIsolatedNamespace, printResult } from '../helpers/netns.ts';
import { call, closePool, info, runMain, scenarioDir, sleep, start, stopProc, waitUntil } from '../router/scenario-util.ts';

const HOST = '127.0.0.1';
const NODE = `${HOST}:7111`;
const ROUTER = `${HOST}:7001`;

runMain(async () => {
  assertIsolatedNamespace();
  const dir = scenarioDir('seqdb-discovery-');
  const nodeA = start('node a', ['node', '--cluster', 'a', '--shard', '1', '--host', HOST, '--port', '7111', '--data', join(dir, 'a'), '--bootstrap-expect', '1']);
  start('router a', ['router', '--cluster', 'a', '--host', HOST, '--port', '7001']);
  await waitUntil('router a to know shard 1', async () => {
    const i = await info(ROUTER);
    return i.catalog_epoch === '1' && Number(i.shard_1?.match(/slots=(\d+)/)?.[1]) > 0;
  }, 40_000);
  const before: string[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await call(ROUTER, ['INC', 'x', 's'], 6000);
    before.push(r?.kind === 'integer' ? String(r.value) : JSON.stringify(r));
  }
  await stopProc(nodeA, 'SIGKILL');
  start('node b', ['node', '--cluster', 'b', '--shard', '1', '--host', HOST, '--port', '7111', '--data', join(dir, 'b'), '--bootstrap-expect', '1']);
  await waitUntil('node b to lead', async () => (await info(NODE)).role === 'leader', 30_000);
  const nodeBInfo = await info(NODE);
  // At once: each waits out the router's deadline (5 s) when it refuses, as it should.
  const after = await Promise.all([0, 1, 2].map(async (i) => {
    await sleep(100 * i);
    const r = await call(ROUTER, ['INC', 'x', 's'], 8000);
    return r === null ? 'no reply' : r.kind === 'integer' ? String(r.value) : r.kind === 'error' ? `${r.word} ${r.message}` : r.kind;
  }));
  const routerInfo = await info(ROUTER);
  closePool();
  printResult({ before, after, nodeBCluster: nodeBInfo.cluster ?? null, routerCluster: routerInfo.cluster, routerShard1: routerInfo.shard_1 ?? null });
});
