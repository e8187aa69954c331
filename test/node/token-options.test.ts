/**
 * The token options (retention, bound) are replicated state: replicas started with different
 * flags that apply the same log build the same state and give the same replies, because the
 * options they apply come from the state (set at the founding and by CLUSTER TOKENOPTIONS
 * entries), not from their flags. Without that (found by a review) a replica with another
 * --tokens-max forgot other tokens and, leading later, gave a retried token a second number.
 */
import test from 'ava';
import { storedTokenOptions } from '../../node/state-machine/token-options.ts';
import { startDev } from '../helpers/dev-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { RespClient, encodeRequest } from '../helpers/resp-client.ts';
import { dump, entry, parse, replica } from '../helpers/token-log.ts';

const FOUNDER = { tokenRetentionMs: 86_400_000, tokensMax: 1_000_000 };

/** INCs with tokens tok1..tok4, 1 ms apart from T0. */
const fourTokens = (): Uint8Array[] => [1, 2, 3, 4].map((k) => entry(k - 1, 'INC', 'b', 's', 'ID', `tok${k}`));

test('replicas with another --tokens-max or --token-retention-ms apply the same log alike', (t) => {
  const log = [
    ...fourTokens(),
    entry(4, 'INC', 'b', 's', 'ID', 'tok1'), // the retry of a lost reply
    entry(120_000, 'INC', 'b', 's', 'ID', 'tok2'), // two minutes later
    entry(120_001, 'INC', 'b', 's'),
  ];
  const replicas = [replica({}, FOUNDER), replica({ tokensMax: 3 }, FOUNDER), replica({ tokenRetentionMs: 60_000 }, FOUNDER)];
  const replies = replicas.map((r) => log.map((e) => r.apply(e)).join(' '));
  t.is(replies[0], '1 2 3 4 1 2 5');
  t.deepEqual(replies, [replies[0], replies[0], replies[0]]);
  t.is(dump(replicas[1]!.kv), dump(replicas[0]!.kv));
  t.is(dump(replicas[2]!.kv), dump(replicas[0]!.kv));
});

test('CLUSTER TOKENOPTIONS switches every replica at the same entry, whatever its flags', (t) => {
  const log = [
    ...fourTokens(),
    entry(4, 'CLUSTER', 'TOKENOPTIONS', '86400000', '3'),
    entry(5, 'INC', 'b', 's', 'ID', 'tok1'), // still known: the bound is kept when a token is added
    entry(6, 'INC', 'b', 's', 'ID', 'tok5'), // a fifth token: the oldest go, on every replica
    entry(7, 'INC', 'b', 's', 'ID', 'tok1'), // forgotten (an opaque token): a new number, everywhere
  ];
  const replicas = [replica({}, FOUNDER), replica({ tokensMax: 3 }, FOUNDER), replica({ tokensMax: 50 }, FOUNDER)];
  const replies = replicas.map((r) => log.map((e) => r.apply(e)).join(' '));
  t.is(replies[0], '1 2 3 4 ok 1 5 6');
  t.deepEqual(replies, [replies[0], replies[0], replies[0]]);
  t.deepEqual(storedTokenOptions(replicas[2]!.kv), { tokenRetentionMs: 86_400_000, tokensMax: 3 });
  t.is(dump(replicas[1]!.kv), dump(replicas[0]!.kv));
});

test('a state with no stored options (a single node, a shard of an older build) applies its flags', (t) => {
  const r = replica({ tokensMax: 1 }, null);
  t.is([entry(0, 'INC', 'b', 's', 'ID', 'a'), entry(1, 'INC', 'b', 's', 'ID', 'b'), entry(2, 'INC', 'b', 's', 'ID', 'a')].map((e) => r.apply(e)).join(' '), '1 2 3');
  t.is(storedTokenOptions(r.kv), null);
});

test('CLUSTER TOKENOPTIONS takes two positive integers', (t) => {
  for (const bad of [['0', '5'], ['5', '-1'], ['x', '5'], ['5']]) {
    t.throws(() => parse(['CLUSTER', 'TOKENOPTIONS', ...bad]), { message: /positive integer|wrong number/ });
  }
  t.deepEqual(parse(['CLUSTER', 'TOKENOPTIONS', '60000', '5']), { type: 'cluster', op: 'tokenoptions', tokenRetentionMs: 60_000, tokensMax: 5 });
});

test('a client cannot send CLUSTER TOKENOPTIONS: on a single node it would override the flags for good (a review)', async (t) => {
  const dev = await startDev(t, await tempDir(t), ['--tokens-max', '1000']);
  const call = async (...args: string[]): Promise<string> => {
    const c = await RespClient.connect(dev.port);
    try {
      c.write(encodeRequest(...args));
      return (await c.next(2000)).trim();
    } finally {
      c.socket.destroy();
    }
  };
  t.regex(await call('CLUSTER', 'TOKENOPTIONS', '86400000', '1'), /^-ERR .*not taken from clients/);
  t.regex(await call('CLUSTER', 'TOKENRULES', '2'), /^-ERR .*not taken from clients/);
  t.deepEqual([await call('INC', 'b', 's', 'ID', 'a'), await call('INC', 'b', 's', 'ID', 'b'), await call('INC', 'b', 's', 'ID', 'a')], [':1', ':2', ':1']);
});
