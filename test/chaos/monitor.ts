/**
 * Samples every node's INFO (role, term, leader) a few times a second during a run, so a
 * report can show who led when, next to the faults: the first thing to look at when
 * throughput drops for longer than a fault lasted.
 */
import type { ChaosCluster } from './cluster.ts';

export interface NodeSample {
  readonly role: string;
  readonly term: number;
  readonly commit: number;
}

export interface ClusterSample {
  /** Milliseconds since the run started. */
  readonly atMs: number;
  /** By global node index; null when the node did not answer (dead, paused, cut off). */
  readonly nodes: ReadonlyArray<NodeSample | null>;
}

/** Samples kept, whatever the run's length. */
export const SAMPLES_MAX = 20_000;

/** Samples until `done()` says stop; resolves with the samples. */
export async function monitorCluster(cluster: ChaosCluster, t0: number, intervalMs: number, done: () => boolean): Promise<ClusterSample[]> {
  const samples: ClusterSample[] = [];
  while (!done() && samples.length < SAMPLES_MAX) {
    const started = performance.now();
    const infos = await Promise.all(cluster.nodes.map((n) => (n.state === 'running' ? cluster.info(n.index, Math.min(300, intervalMs)) : null)));
    samples.push({
      atMs: started - t0,
      nodes: infos.map((i) => (i === null ? null : { role: i.role ?? '?', term: Number(i.term ?? NaN), commit: Number(i.commit_index ?? NaN) })),
    });
    const waitMs = intervalMs - (performance.now() - started);
    if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
  }
  return samples;
}

export interface LeaderSpan {
  readonly startMs: number;
  readonly endMs: number;
  /** Global node index of the leader (highest term among those saying so), or null for none. */
  readonly leader: number | null;
}

/** Leadership of the nodes in `members` over time, as spans between samples. Pure. */
export function leaderSpans(samples: readonly ClusterSample[], members: readonly number[]): LeaderSpan[] {
  const spans: LeaderSpan[] = [];
  samples.forEach((s, k) => {
    let leader: number | null = null;
    let term = -Infinity;
    for (const i of members) {
      const n = s.nodes[i];
      if (n?.role === 'leader' && n.term > term) {
        leader = i;
        term = n.term;
      }
    }
    const endMs = samples[k + 1]?.atMs ?? s.atMs;
    const last = spans[spans.length - 1];
    if (last !== undefined && last.leader === leader) spans[spans.length - 1] = { ...last, endMs };
    else spans.push({ startMs: s.atMs, endMs, leader });
  });
  return spans;
}
