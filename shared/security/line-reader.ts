/**
 * Reads one LF-terminated line from a socket, bounded in bytes and time, for the short text
 * handshakes that precede binary peer traffic. Bytes after the line are handed back untouched.
 */
import type { Socket } from 'node:net';

/** The reason a line longer than `bytesMax` (or binary bytes with no LF) fails with. */
export const LINE_TOO_LONG = 'handshake line too long';

export interface LineRead {
  readonly line: string;
  /** Bytes received after the line's LF. */
  readonly rest: Buffer;
}

export interface LineReadOptions {
  /** Longest line accepted, LF excluded. */
  readonly bytesMax: number;
  readonly timeoutMs: number;
  /** Pause the socket once the line is read (an inbound socket whose reader attaches later). */
  readonly pauseAfter: boolean;
}

export function readLine(socket: Socket, head: Buffer, o: LineReadOptions): Promise<LineRead> {
  return new Promise((resolve, reject) => {
    let buffered = head;
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const fail = (why: string): void => {
      cleanup();
      reject(new Error(why));
    };
    const onClose = (): void => fail('connection closed during the handshake');
    const timer = setTimeout(() => fail(`no handshake line within ${o.timeoutMs} ms`), o.timeoutMs);
    const check = (): boolean => {
      const nl = buffered.indexOf(0x0a);
      if (nl < 0) {
        if (buffered.length > o.bytesMax) fail(LINE_TOO_LONG);
        return false;
      }
      if (nl > o.bytesMax) {
        fail(LINE_TOO_LONG);
        return true;
      }
      cleanup();
      if (o.pauseAfter) socket.pause();
      resolve({ line: buffered.subarray(0, nl).toString('latin1').replace(/\r$/, ''), rest: buffered.subarray(nl + 1) });
      return true;
    };
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      check();
    };
    if (check()) return;
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  });
}
