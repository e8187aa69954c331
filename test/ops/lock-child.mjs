// Child: waits for a common start instant, takes the data-dir lock, reports when, and holds it
// until the common end instant (startAt + 4 s), then exits without releasing it (a kill -9).
const [dir, startAt] = process.argv.slice(2);
const { lockDataDir } = await import('../../node/disk/data-dir-lock.ts');
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now() - 30)));
while (Date.now() < Number(startAt)) { /* spin the last few ms to the common start */ }
try {
  lockDataDir(dir);
  process.stdout.write(`GOT ${process.pid} ${Date.now()}\n`);
} catch (err) {
  process.stdout.write(`REFUSED ${err.code ?? err.message}\n`);
}
setTimeout(() => process.exit(0), Math.max(0, Number(startAt) + 4000 - Date.now()));
