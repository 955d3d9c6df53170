// The perl programs btrfs-vault runs (perl-base is Essential on Debian) are .pl files
// beside the module that runs them, so they can be read, commented and checked
// (`perl -c`, in the unit tests). They reach perl as the one argument of `perl -e`.

/**
 * A program file as that argument: its whole-line comments and its indentation
 * dropped, its lines joined by a space, so a process list or an error shows one line.
 * A comment after code on a line would swallow what follows: the unit tests check that
 * perl reads the line as it reads the file.
 */
export function perlOneLine(program: string): string {
  return program
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .join(' ');
}
