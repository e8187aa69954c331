/** The SeqError code `fn` throws (tests assert codes, not messages); undefined if it returns. */
import { SeqError } from '../../shared/errors.ts';

export function thrownCode(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof SeqError ? err.code : 'not a SeqError';
  }
}
