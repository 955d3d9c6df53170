// `restore --before`: one rule for every form. Backup names are UTC, so a date or a time
// without a zone is UTC too; `Z` or an offset (+02:00) says otherwise. Pure.

const FORM = /^(\d{4})-(\d{2})-(\d{2})(?:[T _](\d{2})[:-](\d{2})(?:[:-](\d{2}))?)?(?:_\d+)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/** The instant `text` names, or undefined when it is no date (or no real one: 2026-02-30). */
export function parseBefore(text: string): Date | undefined {
  const m = FORM.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map((v) => Number(v ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const utc = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(utc);
  // 2026-02-30 or 25:00 would roll over into another instant
  if (
    back.getUTCFullYear() !== y ||
    back.getUTCMonth() !== mo - 1 ||
    back.getUTCDate() !== d ||
    back.getUTCHours() !== h ||
    back.getUTCMinutes() !== mi ||
    back.getUTCSeconds() !== s
  )
    return undefined;
  const zone = m[7];
  if (zone === undefined || zone.toUpperCase() === 'Z') return back;
  const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
  const minutes = Number(z[2]) * 60 + Number(z[3]);
  if (Number(z[2]) > 23 || Number(z[3]) > 59) return undefined;
  // 14:00+02:00 is 12:00 UTC
  return new Date(utc - (z[1] === '+' ? 1 : -1) * minutes * 60_000);
}

/** Said in `--help`, docs/GUIDE.md and the error: which zone a bare time means. */
export const BEFORE_RULE =
  'UTC like the backup names, unless it ends in Z or an offset: 2026-11-20, 2026-11-20T14:00, 2026-11-20T14:00+01:00, or a backup name';
