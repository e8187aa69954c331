/**
 * The token options a shard's replicas apply (retention and bound of exactly-once tokens), kept
 * in the replicated state instead of each process's flags.
 *
 * Why: eviction decides what a retried token gets. Were each replica to use its own
 * `--token-retention-ms` / `--tokens-max`, a node started with other values, or one rebuilding its
 * state from the log after the values changed, would forget other tokens than its peers and,
 * leading later, give a retry a second number and hand it out again (a review proved both).
 * So the values are set by a log entry (`CLUSTER TOKENOPTIONS`, which a leader proposes when the
 * stored values differ from its own flags: node/replication/token-options-sync.ts) and every
 * replica switches at the same index; snapshots carry them with the rest of the state. A state
 * in which none was ever applied (a single node, or a shard of an older build) uses the flags.
 */
import { getMeta, setMeta } from './meta.ts';
import type { KvReader, KvTxn } from './kv.ts';
import { TOKEN_RULES_LATEST, type ResolvedOptions } from './options.ts';
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import { errorResult, type Command, type CommandResult } from './command.ts';

export interface StoredTokenOptions {
  readonly tokenRetentionMs: number;
  readonly tokensMax: number;
}

/** The values applied through the log, or null if none ever was. */
export function storedTokenOptions(kv: KvReader): StoredTokenOptions | null {
  const tokenRetentionMs = Number(getMeta(kv, 'tokenRetentionMs'));
  const tokensMax = Number(getMeta(kv, 'tokensMax'));
  return tokenRetentionMs === 0 || tokensMax === 0 ? null : { tokenRetentionMs, tokensMax };
}

export function setTokenOptions(txn: KvTxn, o: StoredTokenOptions): void {
  setMeta(txn, 'tokenRetentionMs', BigInt(o.tokenRetentionMs));
  setMeta(txn, 'tokensMax', BigInt(o.tokensMax));
}

/** `flags` with the stored values in place of theirs; the same object while nothing differs. */
export function effectiveOptions(kv: KvReader, flags: ResolvedOptions, last: { options: ResolvedOptions }): ResolvedOptions {
  const stored = storedTokenOptions(kv);
  if (stored === null) return flags;
  const o = last.options;
  if (o.tokenRetentionMs === stored.tokenRetentionMs && o.tokensMax === stored.tokensMax && o !== flags) return o;
  last.options = { ...flags, ...stored };
  return last.options;
}

export function sameTokenOptions(a: StoredTokenOptions | null, b: StoredTokenOptions): boolean {
  return a !== null && a.tokenRetentionMs === b.tokenRetentionMs && a.tokensMax === b.tokensMax;
}

/** The rules version a state applies: the stored one, or the options' floor if higher. */
export function tokenRules(kv: KvReader, options: ResolvedOptions): number {
  return Math.max(Number(getMeta(kv, 'tokenRules')), options.tokenRules);
}

/** CLUSTER TOKENRULES: raises the stored version, never lowers it (an entry can be replayed out of date). */
export function setTokenRules(txn: KvTxn, version: number): void {
  if (version > TOKEN_RULES_LATEST) throw new Error(`token rules ${version} are newer than this build's (${TOKEN_RULES_LATEST})`);
  if (BigInt(version) > getMeta(txn, 'tokenRules')) setMeta(txn, 'tokenRules', BigInt(version));
}

/** The version stored in a state (0: never set). */
export function storedTokenRules(kv: KvReader): number {
  return Number(getMeta(kv, 'tokenRules'));
}

/**
 * Throws STORAGE for a state whose shard moved to token rules newer than this build's (a binary
 * rolled back past the upgrade, or a snapshot from a newer leader): this build would evict by
 * older rules than its peers and could answer a retried token otherwise than they would.
 */
export function refuseNewerTokenRules(kv: KvReader, where: string): void {
  refuseTokenRulesVersion(storedTokenRules(kv), where);
}

/** refuseNewerTokenRules for a version read elsewhere (a backup's image). */
export function refuseTokenRulesVersion(stored: number, where: string): void {
  if (stored <= TOKEN_RULES_LATEST) return;
  throw new SeqError(ErrorCode.STORAGE, `${where}: the state applies token rules ${stored}, newer than this build's (${TOKEN_RULES_LATEST}): run the newer build (rolling back past a token rules upgrade is not supported)`);
}

export function isTokenOptions(command: Command): boolean {
  return command.type === 'cluster' && (command.op === 'tokenoptions' || command.op === 'tokenrules');
}

/**
 * What a client sending CLUSTER TOKENOPTIONS gets: only a shard's leader proposes it, from its
 * flags (a client's values were undone by the leader a second later, but the tokens they evicted
 * stayed forgotten; on a single node they overrode the flags for good: a review).
 */
export const TOKEN_OPTIONS_REFUSED: CommandResult = errorResult(ErrorCode.SYNTAX,
  "CLUSTER TOKENOPTIONS and TOKENRULES are not taken from clients: a shard's leader proposes them (from its --tokens-max and --token-retention-ms; the rules once every member has them)");
