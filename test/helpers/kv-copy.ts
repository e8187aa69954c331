/** A copy of a MemoryKv (MemoryKv.put copies keys and values, so nothing is shared). */
import { MemoryKv } from '../../node/state-machine/index.ts';

export function copyKv(kv: MemoryKv): MemoryKv {
  const out = new MemoryKv();
  for (const { key, value } of kv.entries()) out.put(key, value);
  return out;
}
