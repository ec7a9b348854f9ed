// Builds dist/ratchet-spa.js (ESM, minified, one file including the token worker) and its .d.ts,
// prints the minified and gzipped sizes and fails when the gzipped size is over budget.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const BUDGET_GZIP = 10 * 1024;
// Private members that minification may rename (property names are otherwise kept). Never a name
// also used by the platform (entries, keys, …), in stored data, or in a message to the token worker:
// the worker file is built separately.
const MANGLE = new RegExp(
  `^(${'store vault worker channel txKey ready timers noWorker txStore init migrate persist params serverOrigin nowSec lock authorizeUrl finishCodeFlow silent refresh tokenRequest save revokeAll clearSession forget onBroadcast emit schedule authoritative detailed setMarker hasMarker mem manifest ours perTab cleared mirror options root akey revoke domainUrl scopes setUser noWorker'.split(' ').join('|')})$`,
);

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

// Type-check and emit declarations (tsconfig.json: emitDeclarationOnly → dist/types).
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
writeFileSync(join(dist, 'ratchet-spa.d.ts'), "export * from './types/index.js';\n");

const outfile = join(dist, 'ratchet-spa.js');
await build({
  entryPoints: [join(root, 'src/index.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020', 'chrome91', 'firefox90', 'safari15'],
  minify: true,
  mangleProps: MANGLE,
  legalComments: 'none',
  sourcemap: 'linked',
  outfile,
  logLevel: 'warning',
});

// The token worker as a file of its own, for the `workerUrl` option (a CSP without blob:).
await build({
  entryPoints: [join(root, 'src/worker-entry.ts')],
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020', 'chrome91', 'firefox90', 'safari15'],
  minify: true,
  mangleProps: MANGLE,
  legalComments: 'none',
  outfile: join(dist, 'ratchet-spa.worker.js'),
  logLevel: 'warning',
});

const code = readFileSync(outfile);
const gz = gzipSync(code, { level: 9 }).length;
console.log(`dist/ratchet-spa.js: ${code.length} bytes minified, ${gz} bytes gzipped (budget ${BUDGET_GZIP})`);
if (gz > BUDGET_GZIP) {
  console.error(`bundle over budget: ${gz} > ${BUDGET_GZIP} bytes gzipped`);
  process.exit(1);
}
