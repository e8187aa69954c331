/** 150 seeds of a 3-node cluster under faults (the npm test share of `npm run sim`). */
import test from 'ava';
import { runSeedRange, seedStart } from './seed-range.ts';

test('3-node cluster: 150 seeds keep every safety and liveness property', (t) => {
  runSeedRange(t, seedStart(), 150, { nodes: 3 });
});
