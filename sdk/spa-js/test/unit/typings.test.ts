/**
 * The public surface compared with the pinned `@auth0/auth0-spa-js` typings (devDependency): every
 * export, every public `Auth0Client` member and every `Auth0ClientOptions` key of Auth0's SDK must
 * either exist here or be listed as "not applicable" in the README's compatibility table — and
 * everything the table calls supported must exist here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// This file runs from .test-build/test/unit/.
const PKG = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const AUTH0 = join(PKG, 'node_modules/@auth0/auth0-spa-js/dist/typings/index.d.ts');
const OURS = join(PKG, 'src/index.ts');

interface Surface {
  exports: Set<string>;
  methods: Set<string>;
  options: Set<string>;
}

function surface(program: ts.Program, file: string): Surface {
  const checker = program.getTypeChecker();
  const sf = program.getSourceFile(file);
  assert.ok(sf, `${file} is part of the program`);
  const mod = checker.getSymbolAtLocation(sf);
  assert.ok(mod, `${file} is a module`);
  const exported = checker.getExportsOfModule(mod);
  const named = (n: string): ts.Symbol => {
    const s = exported.find((x) => x.name === n);
    assert.ok(s, `${file} exports ${n}`);
    return s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
  };
  const isPublic = (p: ts.Symbol): boolean =>
    !(p.declarations ?? []).some((d) => ts.getCombinedModifierFlags(d as ts.Declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) && !p.name.startsWith('#');
  const client = checker.getDeclaredTypeOfSymbol(named('Auth0Client'));
  const options = checker.getDeclaredTypeOfSymbol(named('Auth0ClientOptions'));
  return {
    exports: new Set(exported.map((s) => s.name)),
    methods: new Set(checker.getPropertiesOfType(client).filter(isPublic).map((p) => p.name)),
    options: new Set(checker.getPropertiesOfType(options).map((p) => p.name)),
  };
}

/** README rows `| \`name\` | kind | status | … |` of the compatibility table: name → status. */
function readmeTable(): Map<string, string> {
  const text = readFileSync(join(PKG, 'README.md'), 'utf8');
  const rows = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|\s*(supported differently|supported|not applicable)\s*\|/.exec(line);
    if (m) rows.set(`${m[2]!.trim()}:${m[1]}`, m[3]!);
  }
  return rows;
}

test("every export, client member and option of @auth0/auth0-spa-js is implemented or listed as not applicable in the README", () => {
  const program = ts.createProgram([AUTH0, OURS], {
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2021.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    skipLibCheck: true,
    strict: true,
    types: [],
  });
  const auth0 = surface(program, AUTH0);
  const ours = surface(program, OURS);
  // The comparison must compare something: Auth0's surface is large.
  assert.ok(auth0.exports.size > 60 && auth0.methods.size > 15 && auth0.options.size > 20, `${auth0.exports.size}/${auth0.methods.size}/${auth0.options.size}`);
  const table = readmeTable();
  const problems: string[] = [];
  const check = (kind: string, theirs: Set<string>, mine: Set<string>): void => {
    for (const name of theirs) {
      const status = table.get(`${kind}:${name}`);
      if (mine.has(name)) {
        if (status !== 'supported' && status !== 'supported differently') problems.push(`${kind} ${name}: implemented, but the README table says ${status ?? 'nothing'}`);
      } else if (status !== 'not applicable') {
        problems.push(`${kind} ${name}: neither implemented nor listed as not applicable (README says ${status ?? 'nothing'})`);
      }
    }
  };
  check('export', auth0.exports, ours.exports);
  check('method', auth0.methods, ours.methods);
  check('option', auth0.options, ours.options);
  // And the table names nothing that is not Auth0's.
  const known = new Set([...[...auth0.exports].map((n) => `export:${n}`), ...[...auth0.methods].map((n) => `method:${n}`), ...[...auth0.options].map((n) => `option:${n}`)]);
  for (const key of table.keys()) if (!known.has(key)) problems.push(`README row ${key} is not in Auth0's typings`);
  assert.deepEqual(problems, []);
});
