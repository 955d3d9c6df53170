import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { LAYER_NAMES } from '../../src/config/defaults.js';
import { layerHandlers } from '../../src/stack/layers.js';

// A layer's handler (src/stack/, one file per layer) is the one place that knows its
// layer: its device, the programs and modules it needs, how it is seen attached, how
// udev knows it, its config keys and its setup questions. So no code outside src/stack
// decides anything by a layer's name: a string literal that is a layer's name, outside
// src/stack, is a decision (or a list of layers) in the wrong place. Text that merely
// mentions the names ("raid, luks, lvm" in a message) is no literal of a name.

const root = process.cwd();

// each with why it may name a layer
const ALLOWED: { file: string; line: RegExp; why: string }[] = [
  {
    file: 'src/config/defaults.ts',
    line: /^export const LAYER_NAMES = /,
    why: 'the one list of the names, which the schema reads',
  },
  { file: 'src/core/eligibility.ts', line: /\.type === 'lvm'/, why: "lsblk's device type, not our layer" },
  {
    file: 'src/config/config-rules.ts',
    line: /layers\.includes\('lvm'\) && lvmReserved\(host\)/,
    why: 'config is below stack and cannot ask the lvm handler; the names LVM keeps are refused when the config loads',
  },
];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : [],
  );
}

/** Every string literal in a file whose whole text is a layer's name: file:line and the line. */
function layerLiterals(file: string): { at: string; line: string }[] {
  const text = readFileSync(join(root, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const names: readonly string[] = LAYER_NAMES;
  const found: { at: string; line: string }[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && names.includes(node.text)) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      found.push({ at: `${file}:${line + 1}`, line: text.split('\n')[line]!.trim() });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test('no code outside src/stack names a layer: the flows, the config and the ui ask the layer handlers', () => {
  const outside = sourceFiles('src').filter((f) => !f.startsWith('src/stack/'));
  assert.ok(outside.length > 50, `the sources are found (${relative(root, join(root, 'src'))}): ${outside.length}`);
  const named = outside
    .flatMap(layerLiterals)
    .filter(({ at, line }) => !ALLOWED.some((a) => at.startsWith(`${a.file}:`) && a.line.test(line)));
  assert.deepEqual(named, [], 'ask the layer handlers (src/stack/layer.ts, LayerHandler) instead of naming a layer');
});

test('each exception to that is still there (an exception no longer needed is taken out)', () => {
  for (const a of ALLOWED)
    assert.ok(
      layerLiterals(a.file).some(({ line }) => a.line.test(line)),
      `${a.file}: ${a.why}`,
    );
});

test('each name of LAYER_NAMES has its handler, which goes by that name', () => {
  for (const name of LAYER_NAMES) assert.equal(layerHandlers([name])[0]?.name, name);
});
