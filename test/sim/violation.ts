/** A safety or liveness property the simulator saw broken. `property` is stable; tests match on it. */
export class SimViolation extends Error {
  readonly property: string;
  readonly detail: string;
  constructor(property: string, detail: string) {
    super(`${property}: ${detail}`);
    this.name = 'SimViolation';
    this.property = property;
    this.detail = detail;
  }
}

/** SIMFAULTS_OUTCOME_ONLY=1: note Raft-internal violations and go on, to see what the client history makes of them. */
export const noted: string[] = [];
const OUTCOME = new Set(['liveness', 'final-state', 'ticket-mismatch', 'core-threw', 'ready-loop', 'message-origin']);

export function violation(property: string, detail: string): never {
  if (process.env.SIMFAULTS_OUTCOME_ONLY && !OUTCOME.has(property)) {
    noted.push(`${property}: ${detail}`);
    return undefined as never;
  }
  throw new SimViolation(property, detail);
}
