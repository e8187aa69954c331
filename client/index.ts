/**
 * SeqDB client library (`seqdb/client`).
 *
 *   import { createClient } from 'seqdb/client';
 *   const client = createClient({ routers: ['127.0.0.1:7379'] });
 *   const n = await client.inc('orders', '2026');   // 1n, 2n, … — never repeated, never skipped
 *   await client.close();
 *
 * See client/DESIGN.md for the retry and exactly-once reasoning.
 */
import { SeqClient } from './client.ts';
import type { ClientOptions } from './options.ts';

export function createClient(options: ClientOptions): SeqClient {
  return new SeqClient(options);
}

export { SeqClient, type CallOptions, type IncOptions, type CommandOptions } from './client.ts';
export type { ClientOptions } from './options.ts';
export {
  ClientError,
  ClientErrorCode,
  ServerError,
  OutcomeUnknownError,
  TimeoutError,
  isClientError,
} from './errors.ts';
export { parseInfo, type ParsedInfo } from './info.ts';
export { timedToken } from './token.ts';
export type { BlockPart } from './inc-merger.ts';
export type { Name } from './validate.ts';
export type { Reply } from '../shared/protocol/reply-decoder.ts';
