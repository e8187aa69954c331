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

export function violation(property: string, detail: string): never {
  throw new SimViolation(property, detail);
}
