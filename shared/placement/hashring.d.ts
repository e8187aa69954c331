declare module 'hashring' {
  type Servers = string | string[] | Record<string, number | { weight?: number; vnodes?: number }>;
  export default class HashRing {
    constructor(servers: Servers, algorithm?: string, options?: { 'max cache size'?: number; 'vnode count'?: number });
    get(key: string): string;
    /** Index into `ring` of the point that owns a key's 32-bit ketama value. */
    find(hashValue: number): number;
    /** The continuum: points sorted by value. */
    readonly ring: ReadonlyArray<{ readonly value: number; readonly server: string }>;
  }
}
