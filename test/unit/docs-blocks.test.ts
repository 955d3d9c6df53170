import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'smol-toml';
import { describedToml } from '../../src/config/described-toml.js';
import { schemaKeys } from '../../src/config/key-docs.js';
import { CONFIG_KEYS } from '../../src/config/keys.js';
import { configSchema } from '../../src/config/schema.js';
import { EXIT_CODES, ExitCode } from '../../src/core/exit-codes.js';
import { runCli } from '../../src/cli/program.js';
import { blockIn, generatedBlocks } from '../support/doc-blocks.js';

// What the code describes once (the config's keys, the exit codes) is what the
// documentation says: the generated parts are current, and every key is described.

for (const block of generatedBlocks()) {
  test(`${block.file}: the ${block.marker} block is made from the code`, () => {
    const shown = blockIn(readFileSync(block.file, 'utf8'), block.marker);
    assert.ok(
      shown !== undefined,
      `${block.file} has no <!-- ${block.marker}:start --> … <!-- ${block.marker}:end --> block`,
    );
    assert.equal(shown, block.text(), `${block.file} is stale: run npm run docs`);
  });
}

test('every key of config.toml is described: what it expects, an example, what it does, a default', () => {
  const keys = schemaKeys(configSchema);
  assert.ok(keys.length > 30, 'the walk sees the keys');
  for (const k of keys) {
    assert.ok(k.doc, `${k.key}: describe it with documented(…) in src/config/schema.ts`);
    assert.ok(k.doc.expects && k.doc.example, `${k.key}: expects and example`);
    if (k.key.endsWith('[]')) continue;
    assert.ok(k.doc.does, `${k.key}: what it does`);
    assert.ok(k.schemaDefault !== undefined || k.doc.default, `${k.key}: its default (or "none")`);
    // the example writes the key itself (an item: its array)
    const name = /([^.[\]]+)(\[\])?$/.exec(k.key)![1]!;
    assert.match(
      k.doc.example,
      new RegExp(`(^|[\\s{\\[.])${name}( =|\\]|\\.)`, 'm'),
      `${k.key}: its example writes it`,
    );
  }
  // the messages' table is the same keys
  assert.deepEqual(
    Object.keys(CONFIG_KEYS),
    keys.map((k) => k.key),
  );
});

test('the exit codes: one row each, ExitCode made from them, and --help ends with every one', async () => {
  assert.equal(new Set(EXIT_CODES.map((r) => r.code)).size, EXIT_CODES.length);
  assert.deepEqual(ExitCode, Object.fromEntries(EXIT_CODES.map((r) => [r.name, r.code])));
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  };
  try {
    assert.equal(await runCli(['--help'], () => assert.fail('--help loads no command')), 0);
  } finally {
    process.stdout.write = write;
  }
  const epilog = out.slice(out.indexOf('Exit codes:'));
  for (const r of EXIT_CODES)
    assert.match(epilog, new RegExp(`^ +${r.code} +${r.meaning.replace(/[()]/g, '\\$&')}$`, 'm'));
});

test('a config written with describedToml reads back the same, each key and table under what it does', () => {
  const raw = {
    host: 'deimos',
    sources: ['/home', { path: '/srv/www', name: 'www' }],
    target: { mountpoint: '/media/my "backup"\n#x', layers: ['luks'], luks_name: 'enc-backup', device: undefined },
    retention: { source: { keep_last: 3 }, target: { daily: 31, monthly: 'all' } },
    notify: { on: ['failure'] },
  };
  const text = describedToml(configSchema, raw);
  const { target, ...rest } = raw;
  assert.deepEqual(JSON.parse(JSON.stringify(parse(text))), {
    ...rest,
    target: { mountpoint: target.mountpoint, layers: target.layers, luks_name: target.luks_name },
  });
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (/^(\w+ =|\[)/.test(line)) assert.match(lines[i - 1] ?? '', /^# \S/, `a comment above: ${line}`);
    if (line.startsWith('#')) assert.ok(line.length <= 88, `comment lines fit: ${line}`);
  }
  assert.match(text, /^# where the backup filesystem is mounted .*\nmountpoint = /m);
});
