import type { Argv } from '../system/runner.js';

export const PARTITION_LABEL = 'backup';

// One GPT partition over the whole disk, type fd00 (Linux RAID), labelled for /dev/disk/by-partlabel.
export const partitionCommands = {
  zap: (disk: string): Argv => ['sgdisk', ['--zap-all', disk]],
  create: (disk: string, label = PARTITION_LABEL): Argv => ['sgdisk', ['--new=1:0:0', '--typecode=1:fd00', `--change-name=1:${label}`, disk]],
  /** make the kernel re-read the table, then wait for udev's links */
  reread: (disk: string): Argv => ['partx', ['--update', disk]],
  settle: (): Argv => ['udevadm', ['settle']],
};
