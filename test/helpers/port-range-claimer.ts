// Started by port-range.test.ts (with its own TMPDIR): claims ports as the tests do, prints them,
// and holds them until its stdin ends. `claim P...` instead claims exactly those ports.
import { claimAll, freePort } from './port-range.ts';

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'claim') {
  console.log(`claimed ${claimAll(rest.map(Number))}`);
} else {
  const ports: number[] = [];
  for (let i = 0; i < Number(mode); i++) ports.push(await freePort());
  console.log(`ports ${ports.join(' ')}`);
}
process.stdin.resume();
process.stdin.once('end', () => process.exit(0));
