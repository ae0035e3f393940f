// The vendored modules must load in a browser as they are: every import is relative, ends in
// `.js` and stays inside web/crypto. Node resolves bare specifiers through node_modules, so this
// walks the import graph itself instead of relying on node having loaded it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const webCrypto = fileURLToPath(new URL('../../../web/crypto/', import.meta.url));
const entry = path.join(webCrypto, 'securevote-crypto.js');
const importPattern = /(?:^|[;\s])(?:import|export)\s*(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/g;

function importsOf(file) {
  const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(importPattern)].map((m) => m[1]);
}

test('every module reachable from securevote-crypto.js is a relative .js file inside web/crypto', () => {
  const seen = new Set();
  const queue = [entry];
  while (queue.length) {
    const file = queue.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of importsOf(file)) {
      assert.ok(spec.startsWith('./') || spec.startsWith('../'), `${file}: bare import ${spec}`);
      assert.ok(spec.endsWith('.js'), `${file}: import without .js: ${spec}`);
      const target = path.resolve(path.dirname(file), spec);
      assert.ok(target.startsWith(webCrypto), `${file}: import outside web/crypto: ${spec}`);
      assert.ok(existsSync(target), `${file}: missing ${spec}`);
      queue.push(target);
    }
  }
  assert.ok(seen.size > 5, `only ${seen.size} modules found`);
});

test('the vendored libraries carry their licence and provenance', () => {
  for (const dir of ['noble-curves-2.4.0', 'noble-hashes-2.4.0']) {
    const base = path.join(webCrypto, 'vendor', dir);
    assert.match(readFileSync(path.join(base, 'LICENSE'), 'utf8'), /MIT License/);
    assert.match(readFileSync(path.join(base, 'VERSION'), 'utf8'), /sha512-/);
  }
});
