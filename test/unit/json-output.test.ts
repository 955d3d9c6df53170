import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VERSION } from '../../src/core/version.js';
import { UserError } from '../../src/core/errors.js';
import { errorText, jsonText } from '../../src/ui/json-output.js';
import { reportError } from '../../src/cli/exit.js';
import { runCli } from '../../src/cli/program.js';
import { COMMANDS } from '../../src/cli/argv.js';

// --json: one object on stdout, `version` first, one error shape (docs/JSON.md). The host
// tier (test/host/cli-consistency.test.ts) runs each command for real.

const root = process.cwd();
const packageVersion = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
/** every command that prints JSON: the top-level ones and schedule's three */
// serve answers a client in the protocol's JSON lines (docs/SERVER.md), not --json's
const JSON_COMMANDS = [
  ...COMMANDS.filter((c) => c !== 'help' && c !== 'schedule' && c !== 'target' && c !== 'serve'),
  'schedule install',
  'schedule remove',
  'schedule status',
  'target add',
];

/** runCli with stdout and stderr captured; a command's code is never loaded. */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = (chunk: string | Uint8Array) => ((stdout += String(chunk)), true);
  process.stderr.write = (chunk: string | Uint8Array) => ((stderr += String(chunk)), true);
  try {
    const code = await runCli(args, () => {
      throw new Error(`a command was run: ${args.join(' ')}`);
    });
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.stdout.removeAllListeners('error');
  }
}

test("the version is package.json's, first in every JSON object, reports and errors alike", () => {
  assert.equal(VERSION, packageVersion);
  const report = JSON.parse(jsonText({ ok: true, exitCode: 0 })) as Record<string, unknown>;
  assert.deepEqual(Object.keys(report), ['version', 'ok', 'exitCode']);
  assert.equal(report.version, packageVersion);
  assert.deepEqual(JSON.parse(errorText({ error: 'e', fix: 'f', exitCode: 2 })), {
    version: packageVersion,
    ok: false,
    error: 'e',
    fix: 'f',
    exitCode: 2,
  });
  let printed = '';
  const code = reportError(new UserError('bad', 'do this'), {
    json: true,
    stdout: (t) => (printed += t),
    stderr: () => undefined,
  });
  assert.equal(code, 2);
  assert.deepEqual(JSON.parse(printed), {
    version: packageVersion,
    ok: false,
    error: 'bad',
    fix: 'do this',
    exitCode: 2,
  });
});

test('a usage error found by the parser is the same error object, with the version', async () => {
  for (const args of [
    ['list', '--bogus', '--json'],
    ['restore', 'a', 'b', 'c', '--json'],
    ['schedule', 'install', '--every', 'hourly', '--bogus', '--json'],
  ]) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(' '));
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(doc), ['version', 'ok', 'error', 'fix', 'exitCode'], args.join(' '));
    assert.equal(doc.version, packageVersion);
    assert.match(String(doc.fix), /--help/);
  }
});

test('every command takes --json, and docs/JSON.md documents each, with the version and the error object', async () => {
  const doc = readFileSync(join(root, 'docs', 'JSON.md'), 'utf8');
  for (const command of JSON_COMMANDS) {
    const help = await run([...command.split(' '), '--help']);
    assert.equal(help.code, 0, command);
    assert.match(help.stdout, /^\s+--json\b/m, `${command} --help lists --json`);
    assert.ok(doc.includes(`### \`${command}\`\n`), `docs/JSON.md has a section for ${command}`);
  }
  assert.match(doc, /\| `version` \|/);
  assert.match(doc, /## The error object/);
});

test('the flags the units pass are hidden from --help and still accepted; schedule install --on-plug stays visible', async () => {
  const help = await run(['backup', '--help']);
  assert.doesNotMatch(help.stdout, /--scheduled|--on-plug/);
  assert.match((await run(['schedule', 'install', '--help'])).stdout, /--on-plug/);
  const restore = await run(['restore', '--help']);
  assert.doesNotMatch(restore.stdout, /--from/, 'the old name of BACKUP is hidden');
  assert.match(restore.stdout, /named after the source in both modes/);
  // accepted: the parser gets as far as running the command (which this test does not load)
  for (const args of [
    ['backup', '--scheduled'],
    ['backup', '--on-plug'],
    ['restore', 'home', '--from', 'x', '--path', 'p'],
  ]) {
    await assert.rejects(async () => {
      const r = await run(args);
      throw new Error(`not run: exit ${r.code} ${r.stderr}`);
    }, /a command was run/);
  }
});
