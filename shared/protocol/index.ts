export { RequestDecoder, type RequestDecoderHandlers } from './request-decoder.ts';
export { type RequestLimits, defaultRequestLimits, resolveRequestLimits } from './limits.ts';
export { splitInlineArgs } from './inline-args.ts';
export {
  OK,
  PONG,
  NULL_BULK,
  NULL_ARRAY,
  type Encoded,
  simpleString,
  errorLine,
  integer,
  bulk,
  array,
  errorReply,
  toWire,
  codeForWireWord,
} from './reply.ts';
export { ReplyDecoder, type Reply, type ReplyDecoderHandlers, type ReplyDecoderOptions } from './reply-decoder.ts';
