/** `seqdb status`: the cluster at a glance, from INFO of each router or node (client/cli/status.ts). */
import { parseArgs } from 'node:util';
import { Exit, routersFrom } from '../../client/cli/common.ts';
import { gatherStatus, renderStatus } from '../../client/cli/status.ts';
import type { Subcommand } from '../cli.ts';
import { CLIENT_SECURITY_USAGE, clientSecurityFromFlags } from '../../shared/security/client-security.ts';

const USAGE = `Usage: seqdb status [--router H:P]... [--json] [--timeout MS]

Asks every given router or node for INFO and shows roles, terms, leaders, members, lag, shards
and ownership as far as each reports them, with anything unhealthy marked "!".
Exit codes: 0 healthy; 1 something unhealthy; 2 usage; 3 nothing reachable.
Routers: --router H:P (repeatable or comma-separated), else $SEQDB_ROUTERS, else 127.0.0.1:7379.

${CLIENT_SECURITY_USAGE}`;

export const status: Subcommand = {
  name: 'status',
  summary: 'the cluster at a glance, unhealthy parts flagged',
  async run(argv) {
    let values;
    try {
      ({ values } = parseArgs({
        args: [...argv],
        options: {
          router: { type: 'string', multiple: true },
          json: { type: 'boolean' },
          timeout: { type: 'string' },
          help: { type: 'boolean', short: 'h' },
          requirepass: { type: 'string' },
          tls: { type: 'boolean' },
          'tls-ca': { type: 'string' },
          'tls-cert': { type: 'string' },
          'tls-key': { type: 'string' },
        },
        strict: true,
      }));
    } catch (err) {
      console.error(`seqdb status: ${(err as Error).message.split('\n')[0]} (see 'seqdb status --help')`);
      return Exit.USAGE;
    }
    if (values.help) {
      console.log(USAGE);
      return Exit.OK;
    }
    if (values.timeout !== undefined && !/^[1-9]\d{0,6}$/.test(values.timeout)) {
      console.error('seqdb status: --timeout must be a positive integer (ms)');
      return Exit.USAGE;
    }
    const deadlineMs = values.timeout === undefined ? 3000 : Number(values.timeout);
    let security;
    try {
      security = clientSecurityFromFlags(values, process.env, false);
    } catch (err) {
      console.error(`seqdb status: ${(err as Error).message}`);
      return Exit.USAGE;
    }
    let report;
    try {
      report = await gatherStatus(routersFrom(values.router), deadlineMs, true, security);
    } catch (err) {
      console.error(`seqdb status: ${(err as Error).message}`);
      return Exit.USAGE;
    }
    console.log(values.json ? JSON.stringify(report, null, 2) : renderStatus(report));
    if (report.nodes.every((n) => !n.reachable && n.refused !== true)) return Exit.UNKNOWN;
    return report.healthy ? Exit.OK : Exit.SERVER;
  },
};
