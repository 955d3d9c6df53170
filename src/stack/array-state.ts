import { readFile } from 'node:fs/promises';
import { parseArrayLines, parseMdadmMap, parseMdstat, sameArrayUuid, type MdArrayStat } from '../core/mdstat.js';
import { exists, kernelName } from './devices.js';

// The one reader of an md array's state (the kernel's /proc/mdstat and sysfs, mdadm's
// map, the ARRAY lines of mdadm.conf), for open, status, doctor, setup, add-mirror and
// verify. Reads only: no disk is woken.

export const MDADM_CONF = '/etc/mdadm/mdadm.conf';
const MDADM_MAP = '/run/mdadm/map';

/** A file of the array in sysfs (/sys/block/md127/md/<name>), trimmed; '' when there is none. */
export async function mdAttribute(md: string, name: string): Promise<string> {
  return (await readFile(`/sys/block/${md}/md/${name}`, 'utf8').catch(() => '')).trim();
}

/**
 * The array's kernel name (md127): by its udev link, or, when udev took the link away
 * because the array's disks were pulled out, by mdadm's own map of the arrays it started.
 */
export async function arrayKernelName(array: string): Promise<string | undefined> {
  if (await exists(array)) return kernelName(array);
  const map = parseMdadmMap(await readFile(MDADM_MAP, 'utf8').catch(() => ''));
  const entry = map.find((e) => e.path === array);
  if (!entry) return undefined;
  // the kernel must still run that very array (md numbers are reused)
  const uuid = await mdAttribute(entry.kernelName, 'uuid');
  return uuid !== '' && sameArrayUuid(uuid, entry.uuid) ? entry.kernelName : undefined;
}

/** The array's line of /proc/mdstat: active or not, its members, a resync; undefined when the kernel has no such array. */
export async function arrayStat(array: string): Promise<MdArrayStat | undefined> {
  const name = await arrayKernelName(array);
  if (!name) return undefined;
  const text = await readFile('/proc/mdstat', 'utf8').catch(() => '');
  return parseMdstat(text).find((a) => a.name === name);
}

export interface SyncStatus {
  action: string;
  done: number;
  total: number;
  /** KiB/s */
  speed: number;
  degraded: number;
}

/** A resync (or check) in progress, from sysfs; undefined when the array is not running. */
export async function arraySync(array: string): Promise<SyncStatus | undefined> {
  const md = await arrayKernelName(array);
  if (!md) return undefined;
  const [action, completed, speed, degraded] = await Promise.all(
    ['sync_action', 'sync_completed', 'sync_speed', 'degraded'].map((n) => mdAttribute(md, n)),
  );
  const m = /^(\d+)\s*\/\s*(\d+)$/.exec(completed!);
  return {
    action: action!,
    done: m ? Number(m[1]) : 0,
    total: m ? Number(m[2]) : 0,
    speed: Number(speed) || 0,
    degraded: Number(degraded) || 0,
  };
}

/** This host's ARRAY line for the array in mdadm.conf, if any. */
export async function configuredArray(array: string): Promise<ReturnType<typeof parseArrayLines>[number] | undefined> {
  const text = await readFile(MDADM_CONF, 'utf8').catch(() => '');
  return parseArrayLines(text).find((a) => a.device === array);
}
