/**
 * Scripted fake storage nodes on real sockets, and a Forwarder (with its pool, map and catalog
 * source) pointed at them: what the router tests drive the forwarder with.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { RequestDecoder } from '../../shared/protocol/index.ts';
import { slotCount } from '../../shared/placement/slot.ts';
import { catalogToJson } from '../../node/ownership/catalog.ts';
import { SlotSet } from '../../node/ownership/slot-set.ts';
import { CatalogSource } from '../../router/catalog-source.ts';
import { Forwarder, type ForwarderOptions } from '../../router/forwarder.ts';
import { NodePool } from '../../router/node-connection.ts';
import { ShardMap } from '../../router/shard-map.ts';

/**
 * What a fake node does with a request: a wire reply, 'drop' the connection, or 'ignore' it, and
 * with it every later request on that connection (a node answers in order, so one that does not
 * answer a request is stuck for that connection: it never skips one and answers the next).
 */
export type Script = (args: string[], n: number) => string | 'drop' | 'ignore';

export interface FakeNode {
  readonly address: string;
  readonly seen: string[][];
  close(): Promise<void>;
}

export async function fakeNode(script: Script): Promise<FakeNode> {
  return requestServer((socket) => {
    let stuck = false;
    return (args, n) => {
      const out = script(args, n);
      if (out === 'drop') socket.destroy();
      else if (out === 'ignore') stuck = true;
      else if (!stuck) socket.write(out);
    };
  });
}

/** What an ordered fake node answers: a wire reply, one that comes later (a promise), or never (and nothing after it). */
export type OrderedReply = string | Promise<string> | 'never';

/** A node that answers strictly in request order; a reply may come later (a promise) or never. */
export async function orderedNode(script: (args: string[]) => OrderedReply): Promise<FakeNode> {
  return requestServer((socket) => {
    let tail: Promise<boolean> = Promise.resolve(true);
    return (args) => {
      const out = script(args);
      tail = tail.then(async (open) => {
        if (!open || out === 'never') return false;
        socket.write(await out);
        return true;
      });
    };
  });
}

/** A loopback server that decodes requests and hands each (and how many came so far) to its socket's handler. */
async function requestServer(handlerFor: (socket: Socket) => (args: string[], n: number) => void): Promise<FakeNode> {
  const seen: string[][] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const handle = handlerFor(socket);
    const decoder = new RequestDecoder({
      onRequest: (raw) => {
        const args = raw.map((a) => a.toString('latin1'));
        seen.push(args);
        handle(args, seen.length);
      },
      onError: () => socket.destroy(),
    });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    seen,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const ALL = SlotSet.of(Array.from({ length: slotCount }, (_, i) => i));
export const bulk = (text: string): string => `$${Buffer.byteLength(text)}\r\n${text}\r\n`;

/** A catalog node (shard 1) listing shard 2, owning every slot, at `addrs`; counts its fetches. */
export async function catalogNode(addrs: () => string[]): Promise<FakeNode> {
  return fakeNode(() => bulk(catalogToJson({ epoch: 1, shards: [{ id: '1', addrs: [], slots: new SlotSet() }, { id: '2', addrs: addrs(), slots: ALL }] })));
}

export async function forwarderFor(t: { teardown(fn: () => unknown): void }, nodes: FakeNode[], options: ForwarderOptions = {}, poolOptions: { readonly inflightMax?: number } = {}) {
  const cat = await catalogNode(() => nodes.map((n) => n.address));
  const pool = new NodePool({ stallMs: options.attemptTimeoutMs ?? 2000, ...poolOptions });
  const map = new ShardMap();
  const catalog = new CatalogSource({ pool, map, seeds: () => [cat.address], refreshGapMs: 5 });
  t.teardown(async () => {
    pool.closeAll();
    await Promise.all([cat, ...nodes].map((n) => n.close()));
  });
  await catalog.refresh();
  return { forwarder: new Forwarder(map, pool, catalog, { backoffMs: 10, ...options }), map, cat };
}

