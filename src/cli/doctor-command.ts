import { loadConfig } from '../config/load.js';
import { doctorLines, runDoctor } from '../flows/inspect/doctor.js';
import { makeRunner } from './context.js';
import { jsonText } from '../ui/json-output.js';

/** doctor [--json]: exit 0 all well, 1 warnings, 2 errors. */
export async function doctorCommand(opts: { config: string; json?: boolean }): Promise<number> {
  const config = await loadConfig(opts.config).catch((err: unknown) => err as Error);
  const report =
    config instanceof Error
      ? await runDoctor(makeRunner({}), undefined, config)
      : await runDoctor(makeRunner({}), config);
  process.stdout.write(opts.json ? jsonText(report) : `${doctorLines(report).join('\n')}\n`);
  return report.exitCode;
}
