/** `seqdb backup --router H:P --out FILE`: a consistent snapshot of every shard, in one file. */
import { resolve } from 'node:path';
import { backup as runBackup } from '../../node/backup/backup.ts';
import { CliError, parseFlags, parsePositiveInt, type Subcommand } from '../cli.ts';
import { CLIENT_SECURITY_FLAGS, CLIENT_SECURITY_USAGE, CLUSTER_SECRET_USAGE, clientSecurityFromFlags } from '../../shared/security/client-security.ts';

const USAGE = `Usage: seqdb backup --router H:P --out FILE

Writes every shard's state, each as of one committed index (its leader's applied index after a
ReadIndex round), to FILE. --router may also name a node of a standalone shard or a single
node (seqdb dev). Writes continue meanwhile; restore with 'seqdb restore'.

Options:
  --router <h:p>        a router (or node) of the cluster to back up
  --out <file>          backup file to write (replaced atomically)
  --deadline-ms <n>     per shard, time to find a leader and export (default 15000)
  -h, --help            show this help

${CLIENT_SECURITY_USAGE}
${CLUSTER_SECRET_USAGE}`;

const FLAGS = {
  router: { type: 'string' },
  out: { type: 'string' },
  'deadline-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...CLIENT_SECURITY_FLAGS,
} as const;

export const backup: Subcommand = {
  name: 'backup',
  summary: 'write a consistent snapshot of every shard to a file',
  async run(argv) {
    const { values } = parseFlags(argv, FLAGS);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (!values.router || !/^[^\s]+:\d{1,5}$/.test(values.router)) throw new CliError('--router H:P is required');
    if (!values.out) throw new CliError('--out FILE is required');
    const out = resolve(values.out);
    let security;
    try {
      security = clientSecurityFromFlags(values);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    const bar = process.stderr.isTTY === true;
    const manifest = await runBackup({
      address: values.router,
      out,
      security,
      shardDeadlineMs: parsePositiveInt('deadline-ms', values['deadline-ms']) ?? 15_000,
      onProgress: (done, total, bytes, shard) => {
        if (bar) process.stderr.write(`\r${progressBar(done, total)} ${done}/${total} shards ${formatBytes(bytes)}${shard ? ` (shard ${shard})` : ''}   `);
      },
    });
    if (bar) process.stderr.write('\n');
    for (const s of manifest.shards) console.log(`shard ${s.shard}: index ${s.index}, ${formatBytes(s.bytes)} from ${s.from}`);
    console.log(`seqdb backup: ${manifest.shards.length} shard(s) written to ${out}`);
    return 0;
  },
};

export function progressBar(done: number, total: number, width = 24): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

export default backup;
