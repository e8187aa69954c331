/**
 * A process with LMDB writes in flight that must end: argv dir, how ('exitNow' | 'uncaught' |
 * 'process.exit', the last only to show the hazard by hand), delay in ms. It queues async write
 * transactions on the real LmdbStore without pause, then ends that way after the delay.
 */
import { LmdbStore } from '../../node/state-machine/lmdb-store.ts';
import { exitNow, exitNowOnUncaught } from '../../shared/exit-now.ts';

const [dir, how, delayText] = process.argv.slice(2);
const store = LmdbStore.open({ path: dir! });
let n = 0;
function queue(): void {
  for (let k = 0; k < 4; k++) {
    void store.write((txn) => {
      for (let j = 0; j < 50; j++) txn.put(Buffer.from(`k${n++}`), Buffer.alloc(100));
    });
  }
}
queue();
setInterval(queue, 1);
if (how === 'uncaught' || how === 'rejection') exitNowOnUncaught();
setTimeout(() => {
  queue();
  process.stdout.write(`ENDING after ${n} puts\n`);
  if (how === 'exitNow') exitNow();
  if (how === 'uncaught') throw new Error('a bug in the server');
  if (how === 'rejection') return void Promise.reject(new Error('a rejected bug'));
  process.exit(1);
}, Number(delayText));
