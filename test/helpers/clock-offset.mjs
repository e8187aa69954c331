// Offsets this process's Date.now (a wrong or stepped wall clock). Only Date.now: monotonic
// timers (setTimeout, performance.now) are untouched, as on a real host whose clock is stepped.
// SEQDB_CLOCK_OFFSET_MS: a fixed offset. SEQDB_CLOCK_OFFSET_FILE: a file holding the offset,
// re-read every 50 ms, so a test can step the clock of a running process.
import { readFileSync } from 'node:fs';

const realNow = Date.now.bind(Date);
let offset = Number(process.env.SEQDB_CLOCK_OFFSET_MS ?? 0);
const file = process.env.SEQDB_CLOCK_OFFSET_FILE;
if (file) {
  const read = () => {
    try {
      const v = Number(readFileSync(file, 'utf8').trim());
      if (Number.isFinite(v)) offset = v;
    } catch {
      // keep the last offset
    }
  };
  read();
  setInterval(read, 50).unref();
}
Date.now = () => realNow() + offset;
