import { readFile } from 'node:fs/promises';
import { parse as parseToml, TomlError } from 'smol-toml';
import * as z from 'zod/mini';
import { InternalError, ProblemsError, UserError } from '../core/errors.js';
import {
  FULL_STACK,
  LAYER_NAMES,
  layersInOrder,
  TARGET_DEFAULTS,
  TARGET_NAME,
  TARGET_NAME_RULE,
  type LayerName,
} from './defaults.js';
import { documented } from './key-docs.js';
import { keyTable } from './keys.js';
import { layerSchema } from './schema.js';
import { schemaProblems } from './problems.js';

// `setup --answers FILE`: the wizard's questions answered in advance, for scripts and tests.

// a fresh schema per key: each carries its own description (key-docs.ts)
const line = () =>
  z.string().check(z.minLength(1, 'is empty'), z.regex(/^[^\n\r\0]*$/, 'contains a line break or NUL byte'));

/** `[server]`: a backup server over SSH, added as `target add` adds one (after the disk, or alone). */
const serverSchema = z.strictObject({
  ssh: documented(line(), {
    expects: 'a string: user@host of the backup server',
    example: 'ssh = "root@vault.example.org"',
    does: 'The backup server, as `target add --ssh` takes it.',
  }),
  port: documented(z.optional(z.number().check(z.int(), z.gte(1), z.lte(65535))), {
    expects: 'an integer from 1 to 65535',
    example: 'port = 22',
    does: "The server's SSH port (default 22).",
  }),
  serve_root: documented(z.optional(line()), {
    expects: 'a string: an absolute path without blanks or quotes',
    example: 'serve_root = "/srv/btrfs-vault"',
    does: "The server's folder of every host's root (default /srv/btrfs-vault); this host's is `<serve_root>/<host>`.",
  }),
  fingerprint: documented(line().check(z.regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'is not a SHA256:… fingerprint')), {
    expects: "a string: the server's ED25519 host key fingerprint, SHA256:…",
    example: 'fingerprint = "SHA256:…"',
    does: "The server's host key as read on the server (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`): another key is refused before anything is written.",
  }),
  name: documented(z.optional(line().check(z.regex(TARGET_NAME, `is not a target name (${TARGET_NAME_RULE})`))), {
    expects: `a string: ${TARGET_NAME_RULE}`,
    example: 'name = "offsite"',
    does: "The server's name in the config, `[targets.<name>]` (default offsite, or offsite-2, … when taken).",
  }),
});

export const answersSchema = z.strictObject({
  disk: documented(z.optional(line().check(z.regex(/^\/dev\//, 'is not a device path'))), {
    expects: "a string: the disk's device path",
    example: 'disk = "/dev/disk/by-id/usb-WD_Elements_WX12345"',
    does: 'The disk setup makes the backup disk of; without it (and with [server]) setup adds only the server.',
  }),
  confirm: documented(z.optional(line()), {
    expects: "a string: the disk's serial (or the last part of its by-id name), as a person would type it",
    example: 'confirm = "WX12345"',
    does: 'What a person would type to confirm the disk: nothing is written unless it names this disk.',
  }),
  server: documented(z.optional(serverSchema), {
    expects: 'a table: ssh, fingerprint, and port, serve_root, name',
    example: '[server]',
    does: 'Also send backups to a server over SSH: the steps of `target add`, after the disk (or alone, without `disk`).',
  }),
  passphrase_file: documented(z.optional(line()), {
    expects: 'a string: the file holding the LUKS passphrase (when the layers include luks)',
    example: 'passphrase_file = "/root/pass"',
    does: "The LUKS passphrase's file (its first line); required when the layers include luks.",
  }),
  layers: documented(
    z._default(
      z
        .array(layerSchema)
        .check(z.refine(layersInOrder, 'is not each layer at most once, bottom-up in the order raid, luks, lvm')),
      [...FULL_STACK],
    ),
    {
      expects: 'an array of "raid", "luks", "lvm", bottom-up: the layers below btrfs ([] for a plain btrfs disk)',
      example: 'layers = ["raid", "luks", "lvm"]',
      does: 'The layers below btrfs.',
    },
  ),
  size: documented(z._default(z.string().check(z.regex(/^(all|\d+(\.\d+)?[KMGTP])$/, 'is not a size')), 'all'), {
    expects: 'a string: "all" or a size like "250G"',
    example: 'size = "all"',
    does: "The host's logical volume size.",
  }),
  wipe_existing: documented(z._default(z.boolean(), false), {
    expects: 'a boolean: true to destroy what the disk carries',
    example: 'wipe_existing = false',
    does: 'Whether what the disk carries may be destroyed.',
  }),
  mountpoint: documented(z.optional(line().check(z.regex(/^\//, 'is not an absolute path'))), {
    expects: 'a string: an absolute path',
    example: 'mountpoint = "/media/backup"',
    does: `Where the backup filesystem is mounted (default ${TARGET_DEFAULTS.mountpoint}; with rotation, /media/backup-<name>).`,
  }),
  rotation: documented(z._default(z.boolean(), false), {
    expects: 'a boolean: true to make another backup disk for this host',
    example: 'rotation = true',
    does: 'On a host whose config has a backup disk already: make this disk another one (rotation), with names of its own and a [targets.<name>] table added to the config.',
  }),
  target_name: documented(
    z.optional(line().check(z.regex(TARGET_NAME, `is not a target name (${TARGET_NAME_RULE})`))),
    {
      expects: `a string: ${TARGET_NAME_RULE}`,
      example: 'target_name = "office"',
      does: "With rotation: the new disk's name in the config (default: derived from its serial).",
    },
  ),
  compression: documented(z._default(z.enum(['zstd', 'lzo', 'zlib', 'none']), 'zstd'), {
    expects: 'one of "zstd", "lzo", "zlib", "none"',
    example: 'compression = "zstd"',
    does: "The backup filesystem's compression.",
  }),
});

const ANSWERS_DOCS = 'docs/GUIDE.md, "A new backup disk"';
// the messages and hints are made from the descriptions above, as the config's are
const ANSWERS_KEYS = keyTable(answersSchema);

export type Answers = z.infer<typeof answersSchema>;

/**
 * Loads and checks the answers; `needsPassphrase` says whether layers ask for the
 * passphrase (their handlers know: src/stack/layers.ts, layersAsk).
 */
export async function loadAnswers(
  file: string,
  needsPassphrase: (layers: readonly LayerName[]) => boolean,
): Promise<Answers> {
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
    if (err instanceof TomlError)
      throw new UserError(
        `${file}:${err.line}:${err.column}: TOML syntax error: ${err.message.split('\n')[0]}`,
        `fix the syntax at line ${err.line}`,
      );
    throw err;
  }
  const parsed = answersSchema.safeParse(data);
  // the passphrase is needed only with LUKS, which the layers have unless told otherwise
  const raw = (data ?? {}) as { layers?: unknown; passphrase_file?: unknown; disk?: unknown; server?: unknown };
  const named = Array.isArray(raw.layers)
    ? LAYER_NAMES.filter((l) => (raw.layers as unknown[]).includes(l))
    : FULL_STACK;
  const missing = (key: string): z.core.$ZodIssue => ({
    code: 'invalid_type',
    expected: 'string',
    path: [key],
    message: 'missing',
    input: undefined,
  });
  // a disk needs its confirmation; without a disk there must be a server (and no disk's keys are read)
  const diskless = raw.disk === undefined && raw.server !== undefined;
  const noPass: z.core.$ZodIssue[] = [
    ...(raw.disk === undefined && raw.server === undefined ? [missing('disk')] : []),
    ...(raw.disk !== undefined && (raw as { confirm?: unknown }).confirm === undefined ? [missing('confirm')] : []),
    ...(!diskless && needsPassphrase(named) && raw.passphrase_file === undefined ? [missing('passphrase_file')] : []),
  ];
  if (!parsed.success || noPass.length > 0) {
    const issues = [...(parsed.success ? [] : parsed.error.issues), ...noPass];
    throw new ProblemsError(
      schemaProblems(file, data, issues, { keys: ANSWERS_KEYS, section: ANSWERS_DOCS }),
      `${file} has problems:`,
    );
  }
  return parsed.data;
}

/** The passphrase from its file: the first line, without the line break. Never logged. */
export async function readPassphrase(file: string | undefined): Promise<string> {
  // loadAnswers requires it whenever the layers include LUKS
  if (file === undefined) throw new InternalError('a passphrase was needed, and the answers name no passphrase_file');
  const text = await readFile(file, 'utf8').catch(() => {
    throw new UserError(`passphrase file ${file} cannot be read`, 'check passphrase_file in the answers');
  });
  const pass = text.split('\n')[0] ?? '';
  if (pass.length < 8)
    throw new UserError(`the passphrase in ${file} is shorter than 8 characters`, 'use a longer passphrase');
  return pass;
}
