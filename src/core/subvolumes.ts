// Parsers for btrfs-progs 6.2 output (`subvolume list -a -u -q -R`). Pure.

export interface SubvolumeRow {
  id: number;
  /** the last transaction that changed it */
  gen: number;
  /** the transaction that created it (listed with -c) */
  cgen?: number;
  uuid: string;
  parentUuid?: string;
  receivedUuid?: string;
  /** path relative to the filesystem's top level, without a leading slash */
  path: string;
}

const LIST_LINE =
  /^ID (\d+) gen (\d+)(?: cgen (\d+))? top level \d+ parent_uuid (\S+)\s+received_uuid (\S+)\s+uuid (\S+) path (.*)$/;

export function parseSubvolumeList(text: string): SubvolumeRow[] {
  const rows: SubvolumeRow[] = [];
  const seen = new Set<number>();
  // a name may hold newlines: btrfs-progs prints them as they are, so a line that is
  // not a row continues the path of the row before it ("weird\nname", not "weird"); so
  // does a line that imitates a row of a subvolume listed already (IDs are unique: a
  // name made to pass for another subvolume, as any user who may make one can)
  for (const line of text.replace(/\n$/, '').split('\n')) {
    const m = LIST_LINE.exec(line);
    const last = rows.at(-1);
    const imitation = m !== null && seen.has(Number(m[1]));
    if ((!m || imitation) && last) last.path += `\n${line}`;
    if (!m || imitation) continue;
    seen.add(Number(m[1]));
    rows.push(rowOf(line)!);
  }
  return rows;
}

/**
 * btrfs lists subvolumes by ID, each once. A listing that repeats an ID or goes back
 * is one no filesystem printed: a subvolume's name held line breaks and rows of its
 * own making (any user who may make a subvolume can name one so). Then every reading
 * of it is a candidate, each line taken as a row and as part of a name, and only the
 * filesystem can tell which are real (btrfs/subvolumes.ts asks it); undefined: the
 * listing is as btrfs prints it.
 */
export function forgedListingCandidates(text: string): SubvolumeRow[] | undefined {
  const ids = [...text.matchAll(/^ID (\d+) /gm)].map((m) => Number(m[1]));
  if (ids.every((id, i) => i === 0 || id > ids[i - 1]!)) return undefined;
  const seen = new Set<string>();
  return [...parseSubvolumeList(text), ...rowsOfEveryLine(text)].filter((r) => {
    const key = `${r.id}\0${r.path}`;
    return !seen.has(key) && seen.add(key);
  });
}

/** Each line that reads as a row is one; another line continues the name before it. */
function rowsOfEveryLine(text: string): SubvolumeRow[] {
  const rows: SubvolumeRow[] = [];
  for (const line of text.replace(/\n$/, '').split('\n')) {
    const row = rowOf(line);
    if (row) rows.push(row);
    else if (rows.length > 0) rows.at(-1)!.path += `\n${line}`;
  }
  return rows;
}

function rowOf(line: string): SubvolumeRow | undefined {
  const m = LIST_LINE.exec(line);
  if (!m) return undefined;
  return {
    id: Number(m[1]),
    gen: Number(m[2]),
    cgen: m[3] === undefined ? undefined : Number(m[3]),
    parentUuid: uuidOrUndefined(m[4]!),
    receivedUuid: uuidOrUndefined(m[5]!),
    uuid: m[6]!,
    path: m[7]!.replace(/^<FS_TREE>\//, ''),
  };
}

/** Only the IDs of a `btrfs subvolume list` (the read-only listing's: a flag, nothing more to parse). */
export function listedIds(text: string): Set<number> {
  const ids = new Set<number>();
  for (const m of text.matchAll(/^ID (\d+) /gm)) ids.add(Number(m[1]));
  return ids;
}

function uuidOrUndefined(value: string): string | undefined {
  return value === '-' || value === '' ? undefined : value;
}
