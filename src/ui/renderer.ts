import { PRESET_TIMESTAMP, type ListrBaseClassOptions } from 'listr2';

export interface OutputMode {
  json: boolean;
  /** stdout is a terminal: live progress; otherwise plain timestamped lines (cron, journal) */
  tty: boolean;
  dryRun: boolean;
}

export function outputMode(opts: { json?: boolean; dryRun?: boolean }): OutputMode {
  // a terminal without a size (a bare pty) cannot be redrawn: it gets plain lines too
  const tty = Boolean(process.stdout.isTTY) && (process.stdout.columns ?? 0) > 0 && !process.env.CI;
  return { json: Boolean(opts.json), tty, dryRun: Boolean(opts.dryRun) };
}

/** How often progress is shown: live on a terminal, a line every 10 s in a log. */
export function progressInterval(mode: OutputMode): number {
  return mode.tty ? 200 : 10_000;
}

// listr2's option types are keyed on the renderer class; the choice is made at run time
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function listrOptions(mode: OutputMode): ListrBaseClassOptions<any, any, any> {
  const common = { exitOnError: false, registerSignalListeners: false, collectErrors: 'minimal' as const };
  if (mode.json) return { ...common, renderer: 'silent' };
  // dry-run prints the commands line by line, which a redrawing renderer would overwrite
  if (!mode.tty || mode.dryRun) {
    return { ...common, renderer: 'simple', rendererOptions: { timestamp: PRESET_TIMESTAMP } };
  }
  return { ...common, renderer: 'default', rendererOptions: { collapseSubtasks: false, showErrorMessage: true } };
}
