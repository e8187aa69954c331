/**
 * Splits one inline request line into arguments the way Redis's sdssplitargs does, but
 * binary-safe (a NUL byte is an ordinary byte here, not the end of the string).
 * - Arguments are separated by blanks (space, tab, CR, LF, VT, FF).
 * - "double quotes" understand \n \r \t \b \a \\ \" and \xHH; any other \c is c.
 * - 'single quotes' understand only \' ; everything else is literal.
 * - A closing quote must be followed by a blank or the end of the line.
 * Returns null for unbalanced quotes (Redis: "unbalanced quotes in request").
 * Unquoted arguments are views into `line`; quoted ones are fresh buffers.
 */
export function splitInlineArgs(line: Buffer): Buffer[] | null {
  const args: Buffer[] = [];
  let pos = 0;
  while (true) {
    while (pos < line.length && isBlank(line[pos]!)) pos++;
    if (pos >= line.length) return args;
    const token = readToken(line, pos);
    if (token === null) return null;
    args.push(token.arg);
    pos = token.end;
  }
}

interface Token {
  arg: Buffer;
  end: number;
}

function readToken(line: Buffer, start: number): Token | null {
  let pos = start;
  while (pos < line.length) {
    const b = line[pos]!;
    if (isBlank(b)) return { arg: line.subarray(start, pos), end: pos };
    if (b === DQUOTE || b === SQUOTE) return readQuotedToken(line, start, pos);
    pos++;
  }
  return { arg: line.subarray(start, pos), end: pos };
}

/** The token began unquoted at `start` and hit a quote at `quoteAt` (often start === quoteAt). */
function readQuotedToken(line: Buffer, start: number, quoteAt: number): Token | null {
  const out: number[] = [];
  for (let i = start; i < quoteAt; i++) out.push(line[i]!);
  const quote = line[quoteAt]!;
  const end = quote === DQUOTE ? readDouble(line, quoteAt + 1, out) : readSingle(line, quoteAt + 1, out);
  if (end === -1) return null;
  // Redis: a closing quote must be followed by a blank or nothing at all.
  if (end < line.length && !isBlank(line[end]!)) return null;
  return { arg: Buffer.from(out), end };
}

/** Reads a double-quoted body from `pos` (after the quote); returns the index after the closing quote, or -1. */
function readDouble(line: Buffer, pos: number, out: number[]): number {
  while (pos < line.length) {
    const b = line[pos]!;
    if (b === DQUOTE) return pos + 1;
    if (b !== BACKSLASH || pos + 1 >= line.length) {
      out.push(b);
      pos++;
      continue;
    }
    const next = line[pos + 1]!;
    const hi = hexValue(line[pos + 2]);
    const lo = hexValue(line[pos + 3]);
    if (next === 0x78 /* x */ && hi >= 0 && lo >= 0) {
      out.push(hi * 16 + lo);
      pos += 4;
      continue;
    }
    out.push(ESCAPES[next] ?? next);
    pos += 2;
  }
  return -1;
}

function readSingle(line: Buffer, pos: number, out: number[]): number {
  while (pos < line.length) {
    const b = line[pos]!;
    if (b === SQUOTE) return pos + 1;
    if (b === BACKSLASH && line[pos + 1] === SQUOTE) {
      out.push(SQUOTE);
      pos += 2;
      continue;
    }
    out.push(b);
    pos++;
  }
  return -1;
}

const DQUOTE = 0x22;
const SQUOTE = 0x27;
const BACKSLASH = 0x5c;

const ESCAPES: Record<number, number> = {
  0x6e: 0x0a, // \n
  0x72: 0x0d, // \r
  0x74: 0x09, // \t
  0x62: 0x08, // \b
  0x61: 0x07, // \a
};

function isBlank(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}

function hexValue(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  return -1;
}
