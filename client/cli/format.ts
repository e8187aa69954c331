import type { Reply } from '../../shared/protocol/reply-decoder.ts';

/**
 * Renders a reply the way redis-cli does on a terminal: `(integer) 5`, `(nil)`, `(error) ERR …`,
 * numbered array items. RESP2 as decoded does not tell +status from $bulk strings, so short
 * upper-case words (OK, PONG) print bare, multi-line text (INFO) prints raw, and any other string
 * is quoted with escapes so that invisible bytes show.
 */
export function formatReply(reply: Reply, indent = ''): string {
  switch (reply.kind) {
    case 'integer':
      return `(integer) ${reply.value}`;
    case 'null':
      return '(nil)';
    case 'error':
      return formatError(reply.word, reply.message);
    case 'string':
      return formatString(reply.value);
    case 'array':
      return formatArray(reply.items, indent);
  }
}

export function formatError(word: string, message: string): string {
  return message === '' ? `(error) ${word}` : `(error) ${word} ${message}`;
}

function formatString(value: Buffer): string {
  const text = value.toString('utf8');
  if (/^[A-Z]{1,16}$/.test(text)) return text;
  if (text.includes('\n') && isPrintableUtf8(value, text)) return text.replace(/\r\n/g, '\n').replace(/\n$/, '');
  return quote(value);
}

function formatArray(items: readonly Reply[], indent: string): string {
  if (items.length === 0) return '(empty array)';
  const width = String(items.length).length;
  return items
    .map((item, i) => {
      const label = `${String(i + 1).padStart(width)}) `;
      const body = formatReply(item, indent + ' '.repeat(label.length));
      return (i === 0 ? '' : indent) + label + body;
    })
    .join('\n');
}

/** `"…"` with \n, \r, \t, \", \\ and \xHH for other non-printable bytes (redis-cli's sdscatrepr);
 * valid UTF-8 text keeps its characters, other bytes above 0x7f show as \xHH. */
export function quote(value: Buffer): string {
  const text = value.toString('utf8');
  const utf8 = Buffer.from(text, 'utf8').equals(value);
  const chars = utf8 ? [...text] : [...value].map((b) => String.fromCharCode(b));
  let out = '"';
  for (const ch of chars) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f || (!utf8 && code >= 0x80)) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function isPrintableUtf8(value: Buffer, text: string): boolean {
  // A lossless round trip means valid UTF-8; control characters other than CR/LF/TAB are not text.
  return Buffer.from(text, 'utf8').equals(value) && !/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(text);
}
