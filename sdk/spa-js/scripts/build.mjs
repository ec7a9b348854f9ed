// Builds dist/ratchet-spa.js (ESM, minified, including the token worker), the DPoP chunk
// dist/ratchet-spa-dpop.js it loads with `import()` only when DPoP is used, and the .d.ts;
// prints the minified and gzipped sizes and fails when a gzipped size is over its budget.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const BUDGETS = { 'ratchet-spa.js': 10 * 1024, 'ratchet-spa-dpop.js': 2 * 1024 };
// Private members that minification may rename (property names are otherwise kept). Never a name
// also used by the platform (entries, keys, …), in stored data, or in a message to the token worker:
// the worker file is built separately.
const MANGLE = new RegExp(
  `^(${'store vault worker channel txKey ready timers noWorker txStore init migrate persist params serverOrigin nowSec lock authorizeUrl finishCodeFlow silent refresh tokenRequest save revokeAll clearSession forget onBroadcast emit schedule authoritative detailed setMarker hasMarker mem manifest ours perTab cleared mirror options root akey revoke domainUrl scopes setUser prefix post needDpop dp keyPair nonces config load use cached ask started revokeProofs nonceFor keepNonce proof withProof ownKeys cid signer dbKey asOrigin dpopKey keyOf uKey mKey'.split(' ').join('|')})$`,
);

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

// Type-check and emit declarations (tsconfig.json: emitDeclarationOnly → dist/types).
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
writeFileSync(join(dist, 'ratchet-spa.d.ts'), "export * from './types/index.js';\n");

// Two entry points with splitting: `import('./dpop.js')` in the client becomes an import of
// ./ratchet-spa-dpop.js. dpop.ts imports nothing at run time, so there is no shared third chunk.
await build({
  entryPoints: { 'ratchet-spa': join(root, 'src/index.ts'), 'ratchet-spa-dpop': join(root, 'src/dpop.ts') },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020', 'chrome91', 'firefox90', 'safari15'],
  minify: true,
  mangleProps: MANGLE,
  legalComments: 'none',
  sourcemap: 'linked',
  outdir: dist,
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

let over = false;
for (const [file, budget] of Object.entries(BUDGETS)) {
  const code = readFileSync(join(dist, file));
  const gz = gzipSync(code, { level: 9 }).length;
  console.log(`dist/${file}: ${code.length} bytes minified, ${gz} bytes gzipped (budget ${budget})`);
  if (gz > budget) {
    console.error(`${file} over budget: ${gz} > ${budget} bytes gzipped`);
    over = true;
  }
}
if (over) process.exit(1);
