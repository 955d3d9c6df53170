import { readFile } from 'node:fs/promises';
import { parse as parseToml, TomlError } from 'smol-toml';
import * as z from 'zod/mini';
import { ProblemsError, UserError } from '../core/errors.js';

// `setup --answers FILE`: the wizard's questions answered in advance, for scripts and tests.

export const answersSchema = z.strictObject({
  disk: z.string().check(z.regex(/^\/dev\//, 'must be a device path: /dev/disk/by-id/... or /dev/sdX')),
  confirm: z.string().check(z.minLength(1, "type the disk's serial (or the last part of its by-id name) here, as a person would")),
  passphrase_file: z.string().check(z.minLength(1)),
  size: z._default(z.string().check(z.regex(/^(all|\d+(\.\d+)?[KMGTP])$/, 'must be "all" or a size like "250G"')), 'all'),
  wipe_existing: z._default(z.boolean(), false),
  mountpoint: z._default(z.string().check(z.regex(/^\//, 'must be an absolute path')), '/media/backup'),
  compression: z._default(z.enum(['zstd', 'lzo', 'zlib', 'none']), 'zstd'),
});

export type Answers = z.infer<typeof answersSchema>;

export async function loadAnswers(file: string): Promise<Answers> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UserError(`answers file ${file} cannot be read`, 'check the path given to --answers');
  }
  let data: unknown;
  try {
    data = parseToml(text);
  } catch (err) {
    if (err instanceof TomlError) throw new UserError(`${file}:${err.line}:${err.column}: TOML syntax error`, 'fix the syntax at that line');
    throw err;
  }
  const parsed = answersSchema.safeParse(data);
  if (!parsed.success) {
    throw new ProblemsError(
      parsed.error.issues.map((i) => `${file}: ${i.path.join('.') || '(top level)'}: ${i.code === 'unrecognized_keys' ? `unknown key ${i.keys.join(', ')}` : i.message}`),
      `${file} has problems:`,
    );
  }
  return parsed.data;
}

/** The passphrase from its file: the first line, without the line break. Never logged. */
export async function readPassphrase(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new UserError(`passphrase file ${file} cannot be read`, 'check passphrase_file in the answers');
  });
  const pass = text.split('\n')[0] ?? '';
  if (pass.length < 8) throw new UserError(`the passphrase in ${file} is shorter than 8 characters`, 'use a longer passphrase');
  return pass;
}
