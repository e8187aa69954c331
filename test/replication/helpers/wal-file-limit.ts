// Run by wal.test.ts under `ulimit -f` (a file size limit standing in for a nearly full disk):
// writes two entries, one on each write path, then reopens and prints what it holds.
import { Wal } from '../../../node/replication/wal.ts';
import { EntryType } from '../../../node/raft/types.ts';

const dir = process.argv[2]!;
const entry = (index: number) => ({ index, term: 1, type: EntryType.Normal, data: Buffer.alloc(100, index) });
const w = Wal.open({ dir });
w.writeSync({ entries: [entry(1)] });
await w.write({ entries: [entry(2)] });
await w.close();
const r = Wal.open({ dir });
console.log(JSON.stringify({ last: r.lastIndex(), data: [1, 2].map((i) => Buffer.from(r.entry(i).data).toString('hex', 0, 2)) }));
await r.close();
