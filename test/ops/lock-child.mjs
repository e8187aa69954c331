// Child: loads, prints READY, reads the common start instant from stdin (sent once every child
// is loaded, so a slow machine's late loaders cannot spread the start), takes the data-dir lock,
// reports when, and holds it until startAt + HOLD_MS, then exits without releasing it (a kill -9).
const HOLD_MS = 2000;
const [dir] = process.argv.slice(2);
const { lockDataDir } = await import('../../node/disk/data-dir-lock.ts');
process.stdout.write('READY\n');
const startAt = await new Promise((resolve) => {
  let line = '';
  process.stdin.on('data', (d) => {
    line += d;
    if (line.includes('\n')) resolve(Number(line.trim()));
  });
});
process.stdin.destroy();
await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now() - 30)));
while (Date.now() < startAt) { /* spin the last few ms to the common start */ }
try {
  lockDataDir(dir);
  process.stdout.write(`GOT ${process.pid} ${Date.now()}\n`);
} catch (err) {
  process.stdout.write(`REFUSED ${err.code ?? err.message}\n`);
}
setTimeout(() => process.exit(0), Math.max(0, startAt + HOLD_MS - Date.now()));
