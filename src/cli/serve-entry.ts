// The serve bundle (dist/bundle/serve.cjs): sshd starts `btrfs-vault serve --root DIR`
// once for every verb a client sends, so that start reads serve's code alone, not the
// command-line parser and every other command (launch.ts chooses it).
export { serveCommand } from './serve-command.js';
