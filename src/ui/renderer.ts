import { Listr, PRESET_TIMESTAMP, type ListrBaseClassOptions, type ListrTask, type ListrTaskWrapper } from 'listr2';

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

/* eslint-disable @typescript-eslint/no-explicit-any -- listr2 types tasks and options by the
   renderer chosen at compile time; ours is chosen at run time (terminal, log lines, JSON) */
export type TaskSpec = ListrTask<any, any, any>;
export type Task = ListrTaskWrapper<any, any, any>;

export function listrOptions(mode: OutputMode): ListrBaseClassOptions<any, any, any> {
  const common = { exitOnError: false, registerSignalListeners: false, collectErrors: 'minimal' as const };
  if (mode.json) return { ...common, renderer: 'silent' };
  // dry-run prints the commands line by line, which a redrawing renderer would overwrite
  if (!mode.tty || mode.dryRun) {
    return { ...common, renderer: 'simple', rendererOptions: { timestamp: PRESET_TIMESTAMP } };
  }
  return { ...common, renderer: 'default', rendererOptions: { collapseSubtasks: false, showErrorMessage: true } };
}

/** The one task engine: runs the tasks with the renderer for this output. */
export async function runTasks(
  tasks: TaskSpec[],
  mode: OutputMode,
  options: { exitOnError?: boolean } = {},
): Promise<void> {
  await new Listr<any, any, any>(tasks, { ...listrOptions(mode), ...options }).run();
}
/* eslint-enable @typescript-eslint/no-explicit-any */
