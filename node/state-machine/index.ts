/**
 * Public API of SeqDB's state machine. It parses client arguments into commands, encodes them
 * for a log, and applies them deterministically to a key-value transaction. It knows nothing of
 * sockets or of Raft; see node/DESIGN.md.
 */
export * from './command.ts';
export { parseCommand, parsePlainInc, DATA_COMMAND_NAMES, unknownCommand, wrongArity, syntaxError } from './parse.ts';
export { encodeCommand, decodeCommand, type DecodedCommand } from './codec.ts';
export { StateMachine, read } from './apply.ts';
export { DEFAULT_OPTIONS, type StateMachineOptions } from './options.ts';
export { MemoryKv, type KvReader, type KvTxn, type KvEntry } from './kv.ts';
export { LmdbStore, type LmdbStoreOptions } from './lmdb-store.ts';
export { setAppliedIndex, getAppliedIndex, stateSummary, type StateSummary } from './meta.ts';
export { encodeSnapshot, decodeSnapshot } from './snapshot.ts';
export { tokenTimeMs } from './tokens.ts';
