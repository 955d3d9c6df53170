// Everything behind the commands, bundled apart from the command-line parser
// (dist/bundle/commands.cjs) so --help never reads it. Each command's code is
// imported on demand, so a backup does not initialise inquirer, nor setup execa's
// pipe code before it needs it.
export const commands = {
  backup: () => import('./backup-command.js'),
  list: () => import('./list-command.js'),
  prune: () => import('./prune-command.js'),
  status: () => import('./status-command.js'),
  verify: () => import('./verify-command.js'),
  restore: () => import('./restore-command.js'),
  files: () => import('./files-command.js'),
  schedule: () => import('./schedule-command.js'),
  doctor: () => import('./doctor-command.js'),
  stack: () => import('./stack-commands.js'),
  setup: () => import('./setup-command.js'),
  addMirror: () => import('./add-mirror-command.js'),
  complete: () => import('./complete-command.js'),
  target: () => import('./target-command.js'),
  serve: () => import('./serve-command.js'),
};
export { reportError } from './exit.js';
export { withSignals } from './signals.js';
