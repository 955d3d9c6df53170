// A perl program file (NAME.pl beside its module) imported as its text, as
// `import program from './NAME.pl.js'`: esbuild's text loader in the bundles
// (scripts/bundle.mjs), a module made from the file for tsc's output
// (scripts/perl-modules.mjs).
declare module '*.pl.js' {
  const program: string;
  // eslint-disable-next-line no-restricted-syntax -- a text module's one export is its default (esbuild's loader)
  export default program;
}
