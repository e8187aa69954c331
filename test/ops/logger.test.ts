/**
 * Our log lines are pino's: the same calls through our logger and through pino (the reference, a
 * dev dependency) give the same JSON objects, field for field and in the same order, but for the
 * time stamp; and a log call never throws, whatever its fields hold.
 */
import test from 'ava';
import { pino } from 'pino';
import { createLogger, type Logger } from '../../shared/observability/logger.ts';

function both(level: 'debug' | 'info' | 'warn', bindings: Record<string, string>): { ours: Logger; theirs: pino.Logger; lines: { ours: string[]; theirs: string[] } } {
  const lines = { ours: [] as string[], theirs: [] as string[] };
  const ours = createLogger({ level, bindings, pretty: false, write: (l) => void lines.ours.push(l) });
  const theirs = pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }, { write: (l: string) => void lines.theirs.push(l) });
  return { ours, theirs, lines };
}

/** The line without its time stamp, checked to be an ISO time first. */
function timeless(t: import('ava').ExecutionContext, line: string): string {
  t.true(line.endsWith('\n'), 'one line per event');
  const o = JSON.parse(line) as Record<string, unknown>;
  t.regex(String(o.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  delete o.time;
  return JSON.stringify(o);
}

test('the same lines as pino for the same calls, child bindings and levels', (t) => {
  const { ours, theirs, lines } = both('info', { role: 'node', shard: '3', odd: 'quote " backslash \\ newline \n' });
  // pino as our interface: the calls below are the ones SeqDB makes.
  for (const log of [ours, theirs as unknown as Logger]) {
    const child = log.child({ node: 'n1' });
    child.debug('not shown at info');
    child.info({ event: 'leader_change', term: 5, voters: ['a', 'b'], nested: { x: 1 } }, 'leader is n2');
    child.warn('slow flush \u00e9\u2028');
    log.error({ event: 'shutdown_timeout', ms: 5000 }, 'exiting now');
    log.child({ a: 1 }).child({ b: 'two' }).fatal({ c: null }, 'deep');
    log.info({ event: 'no message' });
  }
  t.is(lines.ours.length, 5);
  t.deepEqual(lines.ours.map((l) => timeless(t, l)), lines.theirs.map((l) => timeless(t, l)));
});

test('silent writes nothing; errors, bigints and cycles are written without throwing', (t) => {
  const quiet: string[] = [];
  createLogger({ level: 'silent', pretty: false, write: (l) => void quiet.push(l) }).fatal('never');
  t.deepEqual(quiet, []);
  const lines: string[] = [];
  const log = createLogger({ pretty: false, write: (l) => void lines.push(l) });
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  log.error({ err: new RangeError('boom'), value: 2n ** 70n, cycle }, 'odd fields');
  const o = JSON.parse(lines[0]!) as Record<string, any>;
  t.is(o.err.type, 'RangeError');
  t.is(o.err.message, 'boom');
  t.regex(o.err.stack, /RangeError: boom/);
  t.is(o.value, String(2n ** 70n));
  t.is(o.cycle, '[object Object]');
  t.is(o.msg, 'odd fields');
});
