// The linter `npm test` runs: typescript-eslint's recommended rules with type
// information, so a forgotten await or an unused import fails the suite.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const noDefaultExport = { selector: 'ExportDefaultDeclaration', message: 'no default exports: name what a file holds' };

// Dry-run by construction: below the cli, a file is changed only through the runner port
// (Runner.change, made in src/system/file-change.ts), so a dry-run prints every change and
// the code has no other way to make one. Reading (stat, readFile, readdir, lstat, open to
// read) stays where it is. Nor does any of it ask whether this is a dry-run.
const FS = '/^(node:)?fs(.promises)?$/'; // (a selector's regex cannot hold a slash)
const WRITING_FS =
  '/^(writeFile|appendFile|rename|symlink|unlink|mkdir|mkdtemp|chmod|fchmod|lchmod|chown|fchown|lchown|fsync|fdatasync|rm|rmdir|write|writev|copyFile|cp|link|truncate|ftruncate|utimes|futimes|lutimes|createWriteStream)(Sync)?$/';
const changesThroughThePort = [
  {
    selector: `ImportDeclaration[source.value=${FS}] > ImportSpecifier[imported.name=${WRITING_FS}]`,
    message:
      'a file change goes through the runner port: runner.change({ op: ... }) (src/system/file-change.ts), which a dry-run prints',
  },
  {
    selector: `ImportDeclaration[source.value=${FS}] > :matches(ImportNamespaceSpecifier, ImportDefaultSpecifier)`,
    message: 'import the reading fs functions by name; a file change goes through runner.change',
  },
  {
    selector: `ImportExpression[source.value=${FS}]`,
    message: 'import the reading fs functions by name; a file change goes through runner.change',
  },
  {
    selector:
      'ImportDeclaration[source.value=/system.(durable-files|no-follow|file-change)\\.js$/] > ImportSpecifier[imported.name=/^(writeFileDurably|appendFileDurably|makeDirDurably|writeFileNoFollow|removeFile|fsyncDir|applyChange)$/]',
    message:
      "the system writers are the exec runner's: a file change goes through runner.change, which a dry-run prints",
  },
  {
    selector:
      "MemberExpression[property.name='dryRun']:matches([object.name=/[Rr]unner$/], [object.property.name=/[Rr]unner$/])",
    message: 'do not ask whether this is a dry-run: make the change through the runner port',
  },
];

// The folders of src/ and which of them each may import (docs/ARCHITECTURE.md, "Which
// folder imports which"): the arrows point down only, so a folder never depends on one above it.
const MAY_IMPORT = {
  core: [],
  system: ['core'],
  config: ['core'],
  btrfs: ['core', 'system', 'config'],
  stack: ['core', 'system', 'config'],
  ui: ['core', 'system', 'config', 'stack'],
  flows: ['core', 'system', 'config', 'btrfs', 'stack', 'ui'],
  // the cli parses and calls flows; it builds the runner (context.ts), nothing of btrfs or the stack
  cli: ['core', 'system', 'config', 'ui', 'flows'],
};
const layering = Object.entries(MAY_IMPORT).map(([folder, allowed]) => ({
  files: [`src/${folder}/**`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: Object.keys(MAY_IMPORT)
          .filter((other) => other !== folder && !allowed.includes(other))
          .map((other) => ({
            group: [`../${other}/*`, `../../${other}/*`],
            message: `src/${folder} may import ${allowed.length > 0 ? `only ${allowed.join(', ')}` : 'nothing of ours'} (docs/ARCHITECTURE.md, "Which folder imports which")`,
          })),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'scripts/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // async methods that do no awaiting are how an interface that returns promises is met
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': ['error', noDefaultExport],
    },
  },
  ...layering,
  {
    files: ['src/flows/**', 'src/btrfs/**', 'src/stack/**', 'src/config/**', 'src/ui/**'],
    rules: { 'no-restricted-syntax': ['error', noDefaultExport, ...changesThroughThePort] },
  },
  {
    // tests read the CLI's JSON output, which is untyped by nature; node:test's test() is awaited by the runner
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', name: ['test', 'it', 'describe'], package: 'node:test' }] },
      ],
      'no-control-regex': 'off',
    },
  },
);
