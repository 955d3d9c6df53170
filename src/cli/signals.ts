import { ExitCode, InterruptedError } from '../core/errors.js';

/** SIGINT/SIGTERM abort the run (which cleans up); a second signal ends it at once. */
export async function withSignals(run: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  const handler = (sig: 'SIGINT' | 'SIGTERM') => () => {
    if (controller.signal.aborted) process.exit(sig === 'SIGINT' ? ExitCode.sigint : ExitCode.sigterm);
    controller.abort(new InterruptedError(sig));
  };
  const onInt = handler('SIGINT');
  const onTerm = handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    return await run(controller.signal);
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
