import { resolve, sep } from 'node:path';
import { namedTargetDefaults, SINGLE_TARGET_NAME, TARGET_DEFAULTS, TARGET_NAME, TARGET_NAME_RULE } from './defaults.js';
import type { LayerName } from './defaults.js';
import { pathIdentity } from './identity.js';
import { problem, show } from './problems.js';
import type { RawConfig, RawTarget, RetentionSide } from './schema.js';

// The backup disks of a config: `[target]` (one disk, named `backup`) and the
// `[targets.<name>]` tables, each with its keys' defaults filled in, and the rules
// that hold between them (names, and nothing two disks attached at once would share).

const DOCS = 'docs/GUIDE.md, "Several backup disks"';

/** One target table with every default filled in, as the rules and the loader read it. */
export interface TargetTable {
  name: string;
  /** how a message names its table: `target` or `targets.office` */
  table: string;
  mountpoint: string;
  layers: LayerName[];
  token: string;
  token_sha512: string;
  array: string;
  luks_name: string;
  keyfile: string;
  volume_group: string;
  device?: string;
  partition: string;
  min_free?: string;
  keep_for_absent?: string;
  max_age?: string;
  retention?: RetentionSide;
}

/** The target tables in the order written: `[target]` first, then `[targets.*]`; bad names are problems. */
export function targetTables(file: string, raw: RawConfig, problems: string[]): TargetTable[] {
  const tables: TargetTable[] = [];
  if (raw.target) tables.push(filled(SINGLE_TARGET_NAME, 'target', raw.target, TARGET_DEFAULTS));
  for (const [name, t] of Object.entries(raw.targets ?? {})) {
    if (t.ssh !== undefined) continue; // a backup server (remote-tables.ts)
    const bad = targetNameProblem(name);
    if (bad) {
      problems.push(
        problem(
          `${file}: targets`,
          `the target name ${show(name)} ${bad}`,
          `name it with ${TARGET_NAME_RULE}, e.g. [targets.office] (${DOCS})`,
        ),
      );
      continue;
    }
    if (raw.target && name === SINGLE_TARGET_NAME) {
      problems.push(
        problem(
          `${file}: targets.${name}`,
          `[target] is the target named "${SINGLE_TARGET_NAME}" already, so [targets.${name}] would be a second one of that name`,
          `give [targets.${name}] another name, or move [target]'s keys into a [targets.<name>] table of their own (${DOCS})`,
        ),
      );
      continue;
    }
    // eslint-disable-next-line @typescript-eslint/no-unused-vars -- ssh is undefined here (a server is skipped above)
    const { retention, ssh, port, identity, known_hosts, ...keys } = t;
    for (const [key, value] of Object.entries({ port, identity, known_hosts }))
      if (value !== undefined)
        problems.push(
          problem(
            `${file}: targets.${name}.${key}`,
            `${key} is a backup server's key, and [targets.${name}] has no ssh = "user@host", so it is a backup disk`,
            `remove ${key} from [targets.${name}], or add ssh = "user@host" to make it a backup server (docs/GUIDE.md, "A backup server for many hosts")`,
          ),
        );
    tables.push({ ...filled(name, `targets.${name}`, keys, namedTargetDefaults(name)), retention });
  }
  return tables;
}

/** Why a name cannot name a target, or undefined. */
export function targetNameProblem(name: string): string | undefined {
  return TARGET_NAME.test(name) ? undefined : `is not a target name (${TARGET_NAME_RULE})`;
}

function filled(
  name: string,
  table: string,
  t: RawTarget,
  defaults: { [K in keyof typeof TARGET_DEFAULTS]: string },
): TargetTable {
  const kept = Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined)) as RawTarget;
  return { ...defaults, layers: [], ...kept, name, table };
}

/**
 * What two disks attached at once must not share: the mount point (nor one inside the
 * other), the token's hash (it is what tells the disks apart), and the layers'
 * devices and names.
 */
export function targetClashProblems(file: string, tables: readonly TargetTable[], at: (p: string) => string): string[] {
  const problems: string[] = [];
  for (let i = 0; i < tables.length; i++) {
    for (let j = i + 1; j < tables.length; j++) {
      const [a, b] = [tables[i]!, tables[j]!];
      const clash = (what: string, key: string, fix: string) =>
        problems.push(
          problem(
            `${file}: ${b.table}.${key}`,
            `[${a.table}] and [${b.table}] have the same ${what}, and two disks attached at once would clash`,
            `${fix} (${DOCS})`,
          ),
        );
      const [ma, mb] = [resolve(a.mountpoint), resolve(b.mountpoint)];
      if (ma === mb) clash('mount point', 'mountpoint', `give [${b.table}] a mountpoint of its own`);
      else if (sameExisting(ma, mb))
        clash(
          'mount point (or one filesystem mounted at both)',
          'mountpoint',
          `give [${b.table}] a mountpoint of its own, and mount each disk at its own (findmnt ${mb})`,
        );
      else if (inside(ma, mb) || inside(mb, ma))
        clash(
          'mount point tree (one is inside the other)',
          'mountpoint',
          'mount each disk at a folder outside the other',
        );
      if (at(a.token_sha512) === at(b.token_sha512))
        clash('token_sha512 file', 'token_sha512', `give [${b.table}] a token_sha512 file of its own`);
      // the devices and names of the layers: compared whatever the layers, as the defaults never clash
      for (const key of ['array', 'luks_name', 'volume_group', 'partition'] as const)
        if (a[key] === b[key]) clash(key, key, `give [${b.table}] a ${key} of its own`);
      if (a.device !== undefined && a.device === b.device)
        clash('device', 'device', `give [${b.table}] the device of its own disk`);
    }
  }
  return problems;
}

const inside = (outer: string, inner: string) => inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);

// two spellings of one folder (a symlink on the way), when both exist
function sameExisting(a: string, b: string): boolean {
  const ia = pathIdentity(a);
  return ia !== undefined && ia === pathIdentity(b);
}
