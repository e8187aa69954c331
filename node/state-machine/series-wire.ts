/**
 * Series commands on the wire between a router and a node (issue 12): the client arguments that
 * re-create a parsed series command, and a node's array reply as a result the router re-encodes
 * byte-identically. Used by router/forwarder.ts.
 */
import type { Reply } from '../../shared/protocol/reply-decoder.ts';
import type { CommandResult, ResultItem } from './command.ts';
import type { SeriesCommand } from './series-command.ts';

const b = (s: string | bigint | number): Buffer => Buffer.from(String(s), 'latin1');

export function seriesCommandArgs(command: SeriesCommand): Buffer[] {
  const name = b(command.type.toUpperCase());
  if (command.type === 'seq.list') {
    return [name, command.bucket, b(command.after.length === 0 ? '0' : command.after.toString('hex')), b('COUNT'), b(command.count)];
  }
  const head = [name, command.bucket, command.sequence];
  switch (command.type) {
    case 'reserve':
      return [
        ...head,
        b('TTL'),
        b(command.ttlSeconds),
        ...(command.ref ? [b('REF'), command.ref] : []),
        ...(command.token ? [b('ID'), command.token] : []),
      ];
    case 'confirm':
      return [...head, b(command.number), ...(command.ref ? [b('REF'), command.ref] : [])];
    case 'void':
      return [...head, b(command.number), b('REASON'), command.reason];
    case 'audit':
      return [...head, b('FROM'), b(command.from), b('TO'), b(command.to)];
    case 'seq.info':
      return head;
    case 'seq.retain':
      return [...head, b(command.numbers)];
  }
}

/** An array reply as an `array` result (nested errors, which nodes never send, become nil). */
export function arrayReplyResult(reply: Extract<Reply, { kind: 'array' }>): CommandResult {
  return { type: 'array', value: reply.items.map(item) };
}

function item(reply: Reply): ResultItem {
  switch (reply.kind) {
    case 'integer':
      return reply.value;
    case 'string':
      return reply.value;
    case 'array':
      return reply.items.map(item);
    default:
      return null;
  }
}
