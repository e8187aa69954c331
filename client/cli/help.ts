/** Help for `seqdb cli`: one entry per command, shown by `help` and `help <command>`. */
export interface CommandHelp {
  readonly name: string;
  readonly syntax: string;
  readonly summary: string;
  readonly details: string;
}

export const COMMAND_HELP: readonly CommandHelp[] = [
  {
    name: 'INC',
    syntax: 'INC bucket sequence [COUNT n] [ID token]',
    summary: 'take the next number of a sequence (exactly once)',
    details:
      'Returns the new value; a new sequence starts at 0, so its first INC is 1. COUNT n (1..1000000)\n' +
      'takes n consecutive numbers and returns the last. ID token makes it exactly-once: repeating\n' +
      'the same token returns the same reply and takes nothing. seqdb cli adds a fresh ID when you\n' +
      'give none, so its automatic retries never leave a gap; an "outcome unknown" error names the\n' +
      'token to retry with.',
  },
  {
    name: 'GET',
    syntax: 'GET bucket sequence',
    summary: 'read the current value of a sequence',
    details: 'Returns the value, or (nil) if the sequence was never set or incremented.',
  },
  {
    name: 'SET',
    syntax: 'SET bucket sequence value',
    summary: 'set a sequence to a value',
    details:
      'value is 0..9223372036854775807. Not retried once it may have been applied: a late replay\n' +
      'could move the sequence back under other clients.',
  },
  { name: 'PING', syntax: 'PING', summary: 'check the connection', details: 'Replies PONG.' },
  {
    name: 'INFO',
    syntax: 'INFO',
    summary: 'server or router state as key:value lines',
    details: 'See also `seqdb status` for a checked summary of the cluster.',
  },
  { name: 'HELP', syntax: 'HELP [command]', summary: 'this help', details: 'Local to seqdb cli; nothing is sent.' },
  { name: 'QUIT', syntax: 'QUIT (or EXIT, or Ctrl-D)', summary: 'leave', details: 'Local to seqdb cli.' },
];

export function helpText(topic?: string): string {
  if (topic === undefined || topic === '') {
    const width = Math.max(...COMMAND_HELP.map((c) => c.syntax.length));
    const lines = COMMAND_HELP.map((c) => `  ${c.syntax.padEnd(width)}  ${c.summary}`);
    return `SeqDB commands (names are case-insensitive; quote arguments with spaces):\n${lines.join('\n')}\nType "help <command>" for details.`;
  }
  const entry = COMMAND_HELP.find((c) => c.name === topic.toUpperCase());
  if (entry === undefined) return `No help for '${topic}'. Type "help" for the list of commands.`;
  return `  ${entry.syntax}\n  summary: ${entry.summary}\n\n${entry.details.replace(/^/gm, '  ')}`;
}
