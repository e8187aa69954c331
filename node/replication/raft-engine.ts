/**
 * The client server's Engine over a Raft node: the leader executes, everyone else answers
 * `-NOTLEADER <shard> <leader host:port or ?>` and never executes a write. Before the node has
 * joined a shard (bootstrap/join in progress) there is no RaftNode yet: NOTLEADER with '?'.
 */
import { ErrorCode, SeqError } from '../../shared/errors.ts';
import type { Engine } from '../server/engine.ts';
import { errorResult, type Command, type CommandResult, type LmdbStore } from '../state-machine/index.ts';
import type { Members } from './members.ts';
import type { StateChecks } from './state-checks.ts';
import type { PeerClocks } from './peer-clocks.ts';
import { isSeriesCommand } from '../state-machine/series-command.ts';
import type { Feature, PeerFeatures } from './peer-features.ts';
import { TOKEN_OPTIONS_REFUSED, isTokenOptions, storedTokenOptions, storedTokenRules } from '../state-machine/token-options.ts';
import type { RaftNode } from './raft-node.ts';
import { exportPageRead, isExportPage } from './export-page-read.ts';
import { monoNowMs } from '../../shared/mono-clock.ts';

export interface RaftEngineDeps {
  readonly shard: string;
  readonly nodeId: string;
  readonly store: LmdbStore;
  readonly members: Members;
  /** Which members can apply INCS entries (a leader refuses INCS until all can). */
  readonly features: PeerFeatures;
  /** The node once it is part of a shard. */
  readonly node: () => RaftNode | null;
  readonly close: () => Promise<void>;
  /** The voters' clocks (peer-clocks.ts), for INFO's clock_offset_ms. */
  readonly clocks?: PeerClocks;
  /** Cross-replica state digests (state-checks.ts), for INFO. */
  readonly stateChecks?: StateChecks;
  /**
   * A slot-move coordinator's heartbeat for the move of `epoch` (node/rebalance/abandoned-move.ts);
   * false where no move is watched (not the catalog shard). Absent: none.
   */
  readonly moveAlive?: (epoch: number) => boolean;
}

const OK: CommandResult = { type: 'ok' };
const STATE_DAMAGED = errorResult(ErrorCode.TRY_AGAIN, "this node's state differs from the one a majority of the shard's voters hold (state check): the leadership is moving to another node; retry");

/**
 * Asks `to` to take over and waits (bounded) until this node follows `to`: +OK means the
 * leadership is there, not merely that this node let go. A transfer is best effort in Raft (a
 * lost TimeoutNow aborts it after an election timeout; a lost vote lets another node win), so
 * the caller hears TRYAGAIN with where the leadership is instead.
 */
async function transfer(node: RaftNode, to: string): Promise<CommandResult> {
  const st = node.status();
  if (!st.conf.voters.includes(to) || to === st.id) return errorResult(ErrorCode.SYNTAX, `'${to}' is not another voter of this shard`);
  node.transferLeadership(to);
  const deadline = monoNowMs() + TRANSFER_WAIT_MS;
  while (monoNowMs() < deadline) {
    const now = node.status();
    if (now.role !== 'leader' && now.leader === to) return OK;
    await new Promise((r) => setTimeout(r, 20));
  }
  const now = node.status();
  const where = now.role === 'leader' ? 'this node still leads' : `leader now ${now.leader ?? 'unknown'}`;
  return errorResult(ErrorCode.TRY_AGAIN, `leadership did not move to ${to} within ${TRANSFER_WAIT_MS / 1000} s (${where}); retry`);
}

// TRYAGAIN, not FEATUREOFF: series commands have no other way to go, and routers and the client
// retry TRYAGAIN; a fresh shard's leader knows each member from what it announced when added
// (peer-features.ts `joined`), later leaders from asking (within ~100 ms; kept in the data dir).
const SERIES_OFF = errorResult(ErrorCode.TRY_AGAIN, 'series commands wait until every member of this shard is known to run a version that applies them; nothing was taken, retry');

const RELEASE_PAGE_OFF = errorResult(ErrorCode.FEATURE_OFF, 'RELEASEPAGE is off on this shard until every member is known to run a version that applies it; nothing was done, send RELEASE');

/** How long SEQDB.TRANSFER waits for the target to lead: a few election timeouts. */
const TRANSFER_WAIT_MS = 3000;

export class RaftEngine implements Engine {
  constructor(private readonly d: RaftEngineDeps) {}

  execute(command: Command): Promise<CommandResult> {
    const node = this.d.node();
    if (!node) return Promise.resolve(errorResult(ErrorCode.NOT_LEADER, `${this.d.shard} ?`));
    if (command.type === 'incs' && !this.allHave(node, 'incs')) {
      // A part retry must not be told to go another way: its INCS may have applied, and only
      // this command (same token, same part) can tell. It waits like any TRYAGAIN.
      if (command.part !== undefined) return Promise.resolve(errorResult(ErrorCode.TRY_AGAIN, 'INCS parts wait until every member of this shard is known to run a version that applies them; retry the same command'));
      return Promise.resolve(errorResult(ErrorCode.FEATURE_OFF, 'INCS is off on this shard until every member is known to run a version that applies it; nothing was taken, send the INCs one at a time'));
    }
    // Series commands (AUDIT and SEQ.* too: they go through the log) are entries a build before
    // issue 12 cannot decode: an older follower would stop at the first one, at every restart (a
    // series review). Every build that announces features applies them (issue 12 came first).
    if (isSeriesCommand(command) && !this.allHave(node, 'incs')) return Promise.resolve(SERIES_OFF);
    if (isTokenOptions(command)) return Promise.resolve(TOKEN_OPTIONS_REFUSED);
    // The coordinator then releases in one step (CLUSTER RELEASE), as before (node/rebalance/mover.ts).
    if (command.type === 'cluster' && command.op === 'releasepage' && !this.allHave(node, 'releasepages')) return Promise.resolve(RELEASE_PAGE_OFF);
    // Led by a node whose state a majority of the voters found damaged: no number or value from
    // it; the leadership moves within a second (replica-node.ts), and routers retry TRYAGAIN.
    if (this.d.stateChecks?.damaged() === true && node.status().role === 'leader') return Promise.resolve(STATE_DAMAGED);
    if (isExportPage(command)) return exportPageRead((c) => node.execute(c), this.d.store, command);
    return node.execute(command);
  }

  /** Only a leader decides (a follower redirects as for any write). */
  private allHave(node: RaftNode, feature: Feature): boolean {
    const st = node.status();
    return st.role !== 'leader' || this.d.features.allHave(feature, [...st.conf.voters, ...st.conf.learners]);
  }

  info(): Record<string, string | number> {
    const summary = this.d.store.summary();
    // Replicas evict by the stored rules (1 until CLUSTER TOKENRULES: token-options-sync.ts).
    const rules = Math.max(1, this.d.store.read((kv) => storedTokenRules(kv)));
    const base = { shard: this.d.shard, node_id: this.d.nodeId, sequences: summary.sequences, tokens: summary.tokens, token_rules: rules };
    const node = this.d.node();
    if (!node) return { role: 'joining', ...base, applied_index: summary.appliedIndex };
    const st = node.status();
    const learner = st.conf.learners.includes(st.id);
    const role = learner ? 'learner' : st.role === 'preCandidate' ? 'candidate' : st.role;
    return {
      role,
      ...base,
      term: st.term,
      leader: node.leaderAddress() ?? '?',
      leader_id: st.leader ?? '?',
      commit_index: st.commit,
      applied_index: node.appliedIndex(),
      last_index: st.lastIndex,
      first_index: st.firstIndex,
      members: this.membersLine(node),
      // Whether this node, as leader, would run an INCS now (peer-features.ts): all members said yes.
      incs: this.d.features.allHave('incs', [...st.conf.voters, ...st.conf.learners]) ? 'on' : 'off',
      ...node.diskInfo(),
      ...this.tokenOptionsInfo(),
      // This node's clock less the voters' median, the time a leader stamps on writes: a large one names the wrong clock.
      ...(this.d.clocks !== undefined ? { clock_offset_ms: this.d.clocks.offsetMs(st.conf.voters) } : {}),
      ...this.d.stateChecks?.info(),
    };
  }

  close(): Promise<void> {
    return this.d.close();
  }

  /** The token options every replica applies (token-options.ts); "flags" where none is stored yet. */
  private tokenOptionsInfo(): Record<string, string | number> {
    const stored = this.d.store.read((kv) => storedTokenOptions(kv));
    return { token_retention_ms: stored?.tokenRetentionMs ?? 'flags', tokens_max: stored?.tokensMax ?? 'flags' };
  }

  /** SEQDB.TRANSFER <id>, SEQDB.REMOVE <id>, SEQDB.SNAPSHOT: run on the leader; SEQDB.MOVEALIVE <epoch> on any member. */
  extraCommand(name: string): ((args: readonly Buffer[]) => Promise<CommandResult>) | undefined {
    const arity = () => errorResult(ErrorCode.WRONG_ARITY, `wrong number of arguments for '${name}'`);
    const onLeader = async (args: readonly Buffer[], want: number, run: (node: RaftNode) => Promise<CommandResult>): Promise<CommandResult> => {
      if (args.length !== want) return arity();
      const node = this.d.node();
      if (!node) return errorResult(ErrorCode.NOT_LEADER, `${this.d.shard} ?`);
      if (node.status().role !== 'leader') return node.notLeader();
      return run(node);
    };
    switch (name) {
      case 'seqdb.transfer':
        return (args) => onLeader(args, 2, (node) => transfer(node, args[1]!.toString('latin1')));
      case 'seqdb.remove':
        return (args) => onLeader(args, 2, (node) => node.changeMembers({ type: 'remove', nodeId: args[1]!.toString('latin1') }));
      case 'seqdb.movealive':
        // Every catalog member keeps its coordinator's heartbeats (abandoned-move.ts), so that a
        // new leader knows at once whether the coordinator went silent.
        return async (args) => {
          if (args.length !== 2) return arity();
          const text = args[1]!.toString('latin1');
          const epoch = Number(text);
          if (!/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(epoch)) return errorResult(ErrorCode.NOT_INTEGER, 'the move epoch must be a positive integer');
          return this.d.moveAlive?.(epoch) === true ? OK : errorResult(ErrorCode.SYNTAX, 'this node watches no slot move (only the catalog shard of a sharded cluster does)');
        };
      case 'seqdb.snapshot':
        return (args) => onLeader(args, 1, (node) => node.snapshotNow().then(() => OK, (err: unknown) => {
          if (err instanceof SeqError) return errorResult(err.code, err.message);
          throw err;
        }));
      default:
        return undefined;
    }
  }

  /** `id=host:port/voter/match,...` (match only known on the leader, else -). */
  private membersLine(node: RaftNode): string {
    const st = node.status();
    const one = (id: string, kind: string): string =>
      `${id}=${this.d.members.addressOf(id) ?? '?'}/${kind}/${st.progress?.[id]?.match ?? '-'}`;
    return [...st.conf.voters.map((id) => one(id, 'voter')), ...st.conf.learners.map((id) => one(id, 'learner'))].join(',');
  }
}
