import { readFileSync } from 'node:fs';
import { PACKAGE_ROOT } from '../../shared/package-root.ts';

/** SeqDB's version, from package.json (read once at startup). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('package.json', PACKAGE_ROOT), 'utf8')) as { version: string }
).version;
