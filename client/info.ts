/** INFO text parsed: `# Section` headers group `key:value` lines. */
export interface ParsedInfo {
  /** Every key, across sections (a later duplicate wins). */
  readonly fields: Readonly<Record<string, string>>;
  /** Keys per section, in order; lines before any header go to section ''. */
  readonly sections: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/** Parses Redis-style INFO text. Unknown or malformed lines are skipped, never fatal. */
export function parseInfo(text: string): ParsedInfo {
  const fields: Record<string, string> = Object.create(null);
  const sections: Record<string, Record<string, string>> = Object.create(null);
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      section = line.slice(1).trim().toLowerCase();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1);
    fields[key] = value;
    (sections[section] ??= Object.create(null))[key] = value;
  }
  return { fields, sections };
}
