import { RequestDecoder } from '../../shared/protocol/request-decoder.ts';
import type { RequestLimits } from '../../shared/protocol/limits.ts';

/** What a decoder reported, in order; args as latin1 strings (byte-exact, readable in diffs). */
export type Event =
  | { request: string[] }
  | { error: string; fatal: boolean; message: string };

export interface Fed {
  events: Event[];
  bufferedBytesMax: number;
  decoder: RequestDecoder;
}

/** Feeds `input` split into the given chunk sizes (cycled), recording events and peak memory. */
export function feed(input: Buffer, chunkSizes: number[], limits?: Partial<RequestLimits>): Fed {
  const events: Event[] = [];
  const decoder = new RequestDecoder(
    {
      onRequest: (args) => events.push({ request: args.map((a) => a.toString('latin1')) }),
      onError: (err, fatal) => events.push({ error: err.code, fatal, message: err.message }),
    },
    limits,
  );
  let bufferedBytesMax = 0;
  let pos = 0;
  for (let i = 0; pos < input.length; i++) {
    const size = Math.max(1, chunkSizes[i % chunkSizes.length]!);
    // Copy each chunk, as a socket would hand over fresh memory.
    decoder.write(Buffer.from(input.subarray(pos, pos + size)));
    pos += size;
    bufferedBytesMax = Math.max(bufferedBytesMax, decoder.bufferedBytes());
  }
  return { events, bufferedBytesMax, decoder };
}

export const WHOLE = [Number.MAX_SAFE_INTEGER];
export const BYTE_BY_BYTE = [1];

/**
 * Runs `input` whole and byte by byte, asserts both give the same events, and returns them.
 * Every decoder case goes through here, so every case is checked both ways.
 */
export function decodeBothWays(
  t: { deepEqual(a: unknown, b: unknown, msg?: string): void },
  input: Buffer | string,
  limits?: Partial<RequestLimits>,
): Event[] {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const whole = feed(bytes, WHOLE, limits);
  const byByte = feed(bytes, BYTE_BY_BYTE, limits);
  t.deepEqual(byByte.events, whole.events, 'byte-by-byte feeding must match whole feeding');
  return whole.events;
}

/** RESP encoding of a request, as redis-cli/ioredis send it. */
export function resp(...args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const b = typeof arg === 'string' ? Buffer.from(arg, 'latin1') : arg;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

export function req(...args: string[]): Event {
  return { request: args };
}

/** Only code and fatality: tests match codes, not text. */
export function errorsOf(events: Event[]): { error: string; fatal: boolean }[] {
  return events.flatMap((e) => ('error' in e ? [{ error: e.error, fatal: e.fatal }] : []));
}
