// Choosing the parent of an incremental send. Pure.

export interface SourceSnapshot {
  name: string;
  uuid: string;
}

export interface TargetSubvolume {
  name: string;
  /** undefined: an incomplete receive */
  receivedUuid?: string;
}

export type ParentChoice =
  | { kind: 'incremental'; parent: string; via: 'latest' | 'newest-common' }
  | { kind: 'full'; reason: string }
  | { kind: 'mismatch'; sourceLatest: string; targetLatest: string };

/**
 * The parent is a snapshot present on both sides as the same data: the source
 * snapshot's UUID equals the target subvolume's received UUID. The `latest` pair
 * is preferred; otherwise the newest common pair; none means a full send.
 * `names` on both sides are ordered oldest first.
 */
export function chooseParent(input: {
  source: readonly SourceSnapshot[];
  target: readonly TargetSubvolume[];
  sourceLatest?: string;
  targetLatest?: string;
  exclude?: string;
}): ParentChoice {
  const source = input.source.filter((s) => s.name !== input.exclude);
  const received = new Map<string, string>();
  for (const t of input.target) if (t.receivedUuid) received.set(t.receivedUuid, t.name);

  const srcLatest = source.find((s) => s.name === input.sourceLatest);
  const dstLatest = input.target.find((t) => t.name === input.targetLatest && t.receivedUuid);
  if (srcLatest && dstLatest) {
    if (dstLatest.receivedUuid === srcLatest.uuid) return { kind: 'incremental', parent: srcLatest.name, via: 'latest' };
    return { kind: 'mismatch', sourceLatest: srcLatest.name, targetLatest: dstLatest.name };
  }
  for (let i = source.length - 1; i >= 0; i--) {
    const s = source[i]!;
    if (received.has(s.uuid)) return { kind: 'incremental', parent: s.name, via: 'newest-common' };
  }
  return {
    kind: 'full',
    reason: source.length === 0 ? 'first backup of this source' : 'no snapshot is present on both sides',
  };
}
