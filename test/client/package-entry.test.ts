/**
 * `seqdb/client` as an app gets it from the package: the JavaScript and declarations that
 * client/build-package.mjs builds (the "prepare" script), resolved through package.json's
 * "exports". Plain `node` (no tsx, no loader) imports it and numbers through a real `seqdb dev`;
 * a strict TypeScript app (NodeNext, no allowImportingTsExtensions, library checks on)
 * type-checks against its declarations, and a wrong type is caught; `npm pack` ships dist/.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as sources from '../../client/index.ts';
import { startDev } from '../helpers/dev-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** A child's environment without the test runner's module hooks. */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/**
 * The package as npm installs it in an app: package.json and a fresh build under
 * app/node_modules/seqdb, its dependencies beside it (linked from this checkout's).
 */
function installedApp(dir: string): string {
  const app = join(dir, 'app');
  // A copy, not a link: Node resolves a linked package's imports from where the link points.
  const pkg = join(app, 'node_modules', 'seqdb');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ type: 'module' }));
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  const build = spawnSync(process.execPath, [join(ROOT, 'client/build-package.mjs'), '--out', join(pkg, 'dist')], { encoding: 'utf8', env: plainEnv() });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
  const { dependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const name of Object.keys(dependencies)) symlinkSync(join(ROOT, 'node_modules', name), join(app, 'node_modules', name));
  return app;
}

test('plain node imports seqdb/client from the built package and numbers through a real router', async (t) => {
  const app = installedApp(await tempDir(t));
  const dev = await startDev(t, await tempDir(t));
  writeFileSync(join(app, 'app.mjs'), [
    "import * as seqdb from 'seqdb/client';",
    'const client = seqdb.createClient({ routers: [process.argv[2]] });',
    "const a = await client.inc('pkg', 'entry');",
    "const b = await client.inc('pkg', 'entry');",
    "const got = await client.get('pkg', 'entry');",
    'await client.close();',
    'console.log(JSON.stringify({ names: Object.keys(seqdb).sort(), values: [a, b, got].map(String), types: [typeof a, typeof got] }));',
  ].join('\n'));
  const run = spawnSync(process.execPath, ['app.mjs', `127.0.0.1:${dev.port}`], { cwd: app, encoding: 'utf8', env: plainEnv(), timeout: 30_000 });
  t.is(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout) as { names: string[]; values: string[]; types: string[] };
  t.deepEqual(out.values, ['1', '2', '2']);
  t.deepEqual(out.types, ['bigint', 'bigint']);
  t.deepEqual(out.names, Object.keys(sources).sort(), 'the built entry exports what client/index.ts does');
});

test('a strict TypeScript app type-checks against the declarations, which catch a wrong type', async (t) => {
  const app = installedApp(await tempDir(t));
  const options = {
    target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
    skipLibCheck: false, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')],
  };
  writeFileSync(join(app, 'ok.ts'), [
    "import { createClient, ClientErrorCode, OutcomeUnknownError, type ClientOptions } from 'seqdb/client';",
    "const options: ClientOptions = { routers: ['127.0.0.1:7379'], mergeIncs: true };",
    'const client = createClient(options);',
    "const n: bigint = await client.inc('invoices', '2026');",
    "const code: string = ClientErrorCode.OUTCOME_UNKNOWN;",
    'export const seen = [n, code, OutcomeUnknownError.name];',
  ].join('\n'));
  writeFileSync(join(app, 'bad.ts'), [
    "import { createClient } from 'seqdb/client';",
    "const client = createClient({ routers: ['127.0.0.1:7379'] });",
    "export const n: string = await client.inc('invoices', '2026');",
  ].join('\n'));
  const check = (file: string) => {
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: options, files: [file] }));
    return spawnSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8', env: plainEnv(), timeout: 60_000 });
  };
  const ok = check('ok.ts');
  t.is(ok.status, 0, ok.stdout + ok.stderr);
  const bad = check('bad.ts');
  t.not(bad.status, 0);
  t.regex(bad.stdout, /bad\.ts\(3,14\): error TS2322: Type 'bigint' is not assignable to type 'string'/);
});

test('npm pack ships the built client (dist/) that "exports" points at', (t) => {
  // dist/ is built by `npm install` / `npm ci` (prepare); the test reads what is there.
  t.true(existsSync(join(ROOT, 'dist/client/index.js')), 'dist/ missing: run npm install (its prepare script builds it)');
  const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', env: plainEnv(), timeout: 60_000 });
  t.is(pack.status, 0, pack.stderr);
  const files = new Set((JSON.parse(pack.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
  for (const path of ['dist/client/index.js', 'dist/client/index.d.ts', 'dist/shared/protocol/reply-decoder.js', 'bin/seqdb.js', 'client/index.ts']) {
    t.true(files.has(path), `${path} is not in the package`);
  }
  t.false([...files].some((f) => f.startsWith('test/') || f.startsWith('.tmp-repro/')), 'tests and scratch files stay out of the package');
});
