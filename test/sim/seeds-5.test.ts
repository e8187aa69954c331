/** 150 seeds of a 5-node cluster under faults (the npm test share of `npm run sim`). */
import test from 'ava';
import { runSeedRange, seedStart } from './seed-range.ts';

test('5-node cluster: 150 seeds keep every safety and liveness property', (t) => {
  runSeedRange(t, seedStart() + 100_000, 150, { nodes: 5 });
});
