declare module 'hashring' {
  type Servers = string | string[] | Record<string, number | { weight?: number; vnodes?: number }>;
  export default class HashRing {
    constructor(servers: Servers, algorithm?: string, options?: { 'max cache size'?: number; 'vnode count'?: number });
    get(key: string): string;
  }
}
