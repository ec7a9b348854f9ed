// Builds the admin console into crates/server/admin-dist/ (embedded in the `ratchet` binary):
// type-checks src/ (strict), bundles src/main.ts with @ratchet/spa-js (built from sdk/spa-js)
// into app.js, and copies index.html, app.css and the SDK's token worker.
// `--check` builds into a temporary directory instead and fails when the result differs from
// the committed bundle, so the binary always embeds what the sources say.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const committed = join(root, '../crates/server/admin-dist');
const sdkDist = join(root, '../sdk/spa-js/dist');
const check = process.argv.includes('--check');
const out = check ? mkdtempSync(join(tmpdir(), 'ratchet-admin-')) : committed;

execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'src/main.ts')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020', 'chrome91', 'firefox90', 'safari15'],
  minify: true,
  legalComments: 'none',
  outfile: join(out, 'app.js'),
  logLevel: 'warning',
});
copyFileSync(join(root, 'src/index.html'), join(out, 'index.html'));
copyFileSync(join(root, 'src/app.css'), join(out, 'app.css'));
copyFileSync(join(sdkDist, 'ratchet-spa.worker.js'), join(out, 'ratchet-spa.worker.js'));

if (check) {
  const names = [...new Set([...readdirSync(out), ...readdirSync(committed)])].sort();
  const differ = names.filter((n) => {
    try {
      return !readFileSync(join(out, n)).equals(readFileSync(join(committed, n)));
    } catch {
      return true;
    }
  });
  rmSync(out, { recursive: true, force: true });
  if (differ.length) {
    console.error(`crates/server/admin-dist differs from a fresh build of admin/ in: ${differ.join(', ')}\nrun: npm --prefix admin run build, and commit the result`);
    process.exit(1);
  }
  console.log('crates/server/admin-dist matches a fresh build of admin/');
} else {
  for (const n of readdirSync(out).sort()) console.log(`${n}: ${readFileSync(join(out, n)).length} bytes`);
}
