import { confirm, input, password, select } from '@inquirer/prompts';
import { diskLine } from './summary.js';
import type { DiskAssessment } from '../core/eligibility.js';
import { UserError } from '../core/errors.js';
import type { LayerName } from '../config/defaults.js';
import { SSH_DESTINATION } from '../config/schema.js';
import { LAYER_SETS } from '../stack/layers.js';

// The wizard's questions. Imported only by the setup and add-mirror commands.

/** The choice in setup's first question that sets up no disk, only a backup server. */
const SERVER_ONLY = 'no disk: only a backup server over SSH (e.g. the backup disk is set up already)';

export async function askDisk(disks: DiskAssessment[], purpose: string): Promise<DiskAssessment>;
export async function askDisk(
  disks: DiskAssessment[],
  purpose: string,
  o: { serverOnly: true },
): Promise<DiskAssessment | undefined>;
/** `serverOnly`: the list ends with a choice of no disk, only a server (undefined). */
export async function askDisk(
  disks: DiskAssessment[],
  purpose: string,
  o?: { serverOnly: true },
): Promise<DiskAssessment | undefined> {
  const eligible = disks.filter((d) => d.eligible);
  const refused = disks.filter((d) => !d.eligible);
  if (eligible.length === 0 && !o?.serverOnly) {
    throw new UserError(
      `no disk can be used ${purpose}:\n${refused.map((d) => `  ${d.byId ?? d.path}: ${d.reasons.join('; ')}`).join('\n')}`,
      'attach the backup disk (and unmount anything on it), then run again',
    );
  }
  const picked = await select({
    message: `Which disk ${purpose}? (everything on it will be destroyed)`,
    // nothing is preselected: the first entry is a no-op
    choices: [
      { name: '(choose a disk)', value: undefined as DiskAssessment | 'server' | undefined, disabled: false },
      ...eligible.map((d) => ({ name: diskLine(d), value: d })),
      ...refused.map((d) => ({ name: diskLine(d), value: d, disabled: `refused: ${d.reasons.join('; ')}` })),
      ...(o?.serverOnly ? [{ name: SERVER_ONLY, value: 'server' as const }] : []),
    ],
    pageSize: 12,
  });
  if (picked === 'server') return undefined;
  return picked ?? (o?.serverOnly ? askDisk(disks, purpose, o) : askDisk(disks, purpose));
}

/** A backup server's answers: after a disk "Also …?", alone (`required`) straight to them. */
export async function askServer(o: {
  required: boolean;
  defaultRoot: string;
}): Promise<{ ssh: string; port: number; serveRoot: string } | undefined> {
  if (!o.required && !(await confirm({ message: 'Also send backups to a server over SSH?', default: false })))
    return undefined;
  const ssh = await input({
    message: 'The server, as user@host (the account is root on a btrfs-vault server)',
    validate: (v) => SSH_DESTINATION.test(v) || 'write it as user@host, e.g. root@vault.example.org',
  });
  const port = await input({
    message: "The server's SSH port",
    default: '22',
    validate: (v) => (/^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535) || 'a port from 1 to 65535',
  });
  const serveRoot = await input({
    message: "The serve root on the server (this host's folder is in it)",
    default: o.defaultRoot,
    validate: (v) =>
      (/^\/[A-Za-z0-9._@+/-]*$/.test(v) && !v.split('/').includes('..')) ||
      'an absolute path of letters, digits, ".", "_", "@", "+", "-", "/"',
  });
  return { ssh, port: Number(port), serveRoot };
}

export async function askWipe(disk: DiskAssessment): Promise<boolean> {
  return confirm({
    message: `${disk.byId ?? disk.path} carries:\n  ${disk.signatures.join('\n  ')}\nDestroy all of it?`,
    default: false,
  });
}

/** What sits between the disk and btrfs; the whole stack first, so Enter takes it. */
export async function askLayers(): Promise<LayerName[]> {
  return select({
    message: 'Layers of the backup disk',
    choices: LAYER_SETS.map(({ layers, what }) => ({
      name: `${layers.length > 0 ? layers.join(' + ') : 'plain btrfs'}: ${what}`,
      value: layers,
    })),
  });
}

export async function askPassphrase(existing?: string): Promise<string> {
  if (existing) return password({ message: `Passphrase of ${existing}`, mask: true });
  for (;;) {
    const a = await password({
      message: 'LUKS passphrase (at least 8 characters; stored nowhere)',
      mask: true,
      validate: (v) => v.length >= 8 || 'at least 8 characters',
    });
    const b = await password({ message: 'The same passphrase again', mask: true });
    if (a === b) return a;
    process.stderr.write('The two passphrases differ; once more.\n');
  }
}

/** `askSize: false` when the volume exists already (reconnecting a rebuilt host) */
export async function askSetupDetails(defaults: {
  mountpoint: string;
  askSize: boolean;
}): Promise<{ size: string; mountpoint: string; compression: 'zstd' | 'lzo' | 'zlib' | 'none' }> {
  if (!defaults.askSize) return { size: 'all', ...(await askMount(defaults.mountpoint)) };
  const size = await input({
    message: 'Size of this host\'s volume ("all" or e.g. 250G)',
    default: 'all',
    validate: (v) => /^(all|\d+(\.\d+)?[KMGTP])$/.test(v) || 'write "all" or a size like 250G',
  });
  return { size, ...(await askMount(defaults.mountpoint)) };
}

async function askMount(
  mountpointDefault: string,
): Promise<{ mountpoint: string; compression: 'zstd' | 'lzo' | 'zlib' | 'none' }> {
  const mountpoint = await input({
    message: 'Mount point',
    default: mountpointDefault,
    validate: (v) => v.startsWith('/') || 'an absolute path',
  });
  const compression = await select({
    message: 'Compression',
    choices: [
      { name: 'zstd (recommended)', value: 'zstd' as const },
      { name: 'lzo', value: 'lzo' as const },
      { name: 'zlib', value: 'zlib' as const },
      { name: 'none', value: 'none' as const },
    ],
  });
  return { mountpoint, compression };
}

/** On a host with backup disks already: is this one another of them (rotation), or set up as before? */
export async function askRotation(existing: readonly string[]): Promise<boolean> {
  return select({
    message: `This host has ${existing.length === 1 ? 'a backup disk' : 'backup disks'} already (${existing.join(', ')}). This disk is`,
    choices: [
      {
        name: 'another backup disk for this host (rotation): names of its own, its own chain, added to the config',
        value: true,
      },
      {
        name: "set up as before: wiped for this host, or joined when it holds another host's backup disk",
        value: false,
      },
    ],
  });
}

export async function askConfirmation(words: string[]): Promise<string> {
  return input({
    message: `Type the disk's serial (${words.length > 1 ? 'or the last part of its by-id name' : 'as shown above'}) to go ahead`,
  });
}
