// GPT type codes: Linux RAID under an array, else Linux filesystem. A module of its own,
// importing nothing: the layer handlers and the partition (which asks them) both read
// them while their modules load, so they must not wait on that import cycle.

export const RAID_TYPE = 'fd00';
export const FILESYSTEM_TYPE = '8300';
