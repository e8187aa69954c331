/**
 * A request's command name, compared as bytes: most requests are one of a few commands, and a
 * string per request for its name (toString, then toLowerCase) was a cost of a router's INC.
 */
/** The commands most requests are, by their lower-case name: no string made for them. */
const COMMON_NAMES = ['inc', 'get', 'set', 'incs'] as const;

/** The command's name in lower case (ASCII): a constant for the common ones. */
export function commandName(arg: Buffer): string {
  for (const common of COMMON_NAMES) if (nameIs(arg, common)) return common;
  return arg.toString('latin1').toLowerCase();
}

/** Whether `arg` is the lower-case ASCII word `lower` in any case. */
export function nameIs(arg: Buffer, lower: string): boolean {
  if (arg.length !== lower.length) return false;
  for (let i = 0; i < arg.length; i++) {
    const byte = arg[i]!;
    // Only A-Z fold, as toLowerCase does for ASCII.
    const folded = byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte;
    if (folded !== lower.charCodeAt(i)) return false;
  }
  return true;
}
