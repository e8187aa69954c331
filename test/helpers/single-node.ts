import { startSingleNode, type SingleNode, type SingleNodeOptions } from '../../node/single/single-node.ts';
import { tempDir } from './temp-dir.ts';

/** An in-process single node on a free port with a temp data dir, closed on teardown. */
export async function startTestNode(
  t: { teardown(fn: () => unknown): void },
  options: Partial<SingleNodeOptions> = {},
): Promise<SingleNode & { dataDir: string }> {
  const dataDir = options.dataDir ?? (await tempDir(t));
  const node = await startSingleNode({ ...options, dataDir, server: { port: 0, ...options.server } });
  t.teardown(() => node.close());
  return { ...node, dataDir, close: node.close, address: node.address, server: node.server };
}
