import { ExitCode, InterruptedError, type StopSignal } from '../core/errors.js';

const CODES: Record<StopSignal, number> = {
  SIGHUP: ExitCode.sighup,
  SIGINT: ExitCode.sigint,
  SIGTERM: ExitCode.sigterm,
};

/**
 * SIGHUP (a closed terminal, an ssh session gone), SIGINT and SIGTERM abort the run,
 * which cleans up and releases its locks; a second signal ends it at once.
 */
export async function withSignals(run: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  const handlers = (Object.keys(CODES) as StopSignal[]).map((sig) => {
    const handler = () => {
      if (controller.signal.aborted) process.exit(CODES[sig]);
      controller.abort(new InterruptedError(sig));
    };
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  try {
    return await run(controller.signal);
  } finally {
    for (const [sig, handler] of handlers) process.off(sig, handler);
  }
}
