// Choosing the parent of an incremental send. Pure.

export interface SourceSnapshot {
  name: string;
  uuid: string;
}

export interface TargetSubvolume {
  name: string;
  /** undefined: not a complete received copy */
  receivedUuid?: string;
}

export type ParentChoice =
  { kind: 'incremental'; parent: string; targetName: string } | { kind: 'full'; reason: string };

/**
 * The parent is the newest source snapshot present on the target as the same data
 * (the target copy's received UUID is the snapshot's UUID). The `latest` links are not
 * consulted: after a crash between the link moves they may disagree, or lag behind a
 * newer complete pair, and the UUIDs are the proof either way. `source` is ordered
 * oldest first.
 */
export function chooseParent(input: {
  source: readonly SourceSnapshot[];
  target: readonly TargetSubvolume[];
}): ParentChoice {
  const received = new Map<string, string>();
  for (const t of input.target) if (t.receivedUuid) received.set(t.receivedUuid, t.name);
  for (let i = input.source.length - 1; i >= 0; i--) {
    const s = input.source[i]!;
    const targetName = received.get(s.uuid);
    if (targetName !== undefined) return { kind: 'incremental', parent: s.name, targetName };
  }
  return {
    kind: 'full',
    reason: input.source.length === 0 ? 'first backup of this source' : 'no snapshot is present on both sides',
  };
}
