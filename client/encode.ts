/** A request argument: text goes as UTF-8, Buffers byte for byte. */
export type Arg = string | Buffer;

/** Encodes one request as a RESP array of bulk strings (what redis-cli sends). */
export function encodeRequest(args: readonly Arg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

const CRLF = Buffer.from('\r\n');
