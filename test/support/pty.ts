import { spawn } from 'node:child_process';

/**
 * Runs a command in a real pseudo-terminal (util-linux `script`) and answers its
 * prompts: each step waits for a pattern on the screen, then types keys (an answer
 * given as a function may first act, e.g. start another run while the prompt waits).
 */
export async function drivePty(
  args: string[],
  steps: [RegExp, string | (() => string)][],
  timeoutMs = 300_000,
): Promise<{ code: number | null; screen: string }> {
  const cmd = args.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
    env: { ...process.env, TERM: 'xterm-256color', COLUMNS: '160', LINES: '50' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  child.stdout.on('data', (c: Buffer) => (screen += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (screen += c.toString('utf8')));
  const closed = new Promise<number | null>((r) => child.on('close', r));
  const end = Date.now() + timeoutMs;
  let seen = 0;
  for (const [pattern, answer] of steps) {
    for (;;) {
      const rest = screen.slice(seen);
      const m = pattern.exec(rest);
      if (m) {
        seen += m.index + m[0].length;
        break;
      }
      if (Date.now() > end || child.exitCode !== null)
        throw new Error(`pty: never saw ${pattern}\n--- screen ---\n${screen.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 200));
    const keys = typeof answer === 'function' ? answer() : answer;
    for (const ch of keys.match(/\x1b\[[A-D]|[\s\S]/g) ?? []) {
      child.stdin.write(ch);
      await new Promise((r) => setTimeout(r, 15));
    }
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(end - Date.now(), 1000));
  const code = await closed;
  clearTimeout(timer);
  return { code, screen };
}
