/** One readable trace line per message. */
import type { Message } from '../../node/raft/types.ts';

export function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'app': {
      const e = m.entries;
      const span = e.length > 0 ? ` [${e[0]!.index}..${e[e.length - 1]!.index}]` : '';
      return `${head} prev=${m.index}/${m.logTerm} c=${m.commit}${span}`;
    }
    case 'appResp':
      return `${head} i=${m.index}${m.reject ? ` REJECT hint=${m.rejectHint}/${m.logTerm}` : ''}`;
    case 'vote':
    case 'preVote':
      return `${head} last=${m.index}/${m.logTerm}`;
    case 'voteResp':
    case 'preVoteResp':
      return `${head} ${m.reject ? 'REJECT' : 'GRANT'}`;
    case 'heartbeat':
      return `${head} c=${m.commit}${m.context ? ` ctx=${m.context}` : ''}`;
    case 'snap':
      return `${head} snap=${m.snapshot?.meta.index}/t${m.snapshot?.meta.term}`;
    default:
      return head;
  }
}
