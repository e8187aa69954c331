/**
 * Arguments of the bench and simulator scripts: `--help` (or `-h`) prints the usage and exits 0;
 * an unknown option or a missing value is one line and the usage, exit 2, not parseArgs's stack
 * trace.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export function toolArgs<const C extends ParseArgsConfig>(name: string, usage: string, config: C): ReturnType<typeof parseArgs<C>> {
  const args = config.args ?? process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(usage);
    process.exit(0);
  }
  try {
    return parseArgs(config);
  } catch (err) {
    console.error(`${name}: ${err instanceof Error ? err.message : String(err)}\n${usage}`);
    process.exit(2);
  }
}
