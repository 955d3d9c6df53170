import type { RetentionRules } from '../core/retention.js';
import type { VaultConfig } from './config.js';
import { NOTIFY_DEFAULTS } from './defaults.js';
import type { RawConfig, RetentionSide } from './schema.js';

// Values of config.toml as the program uses them, once the schema has checked their form.

/** A side's counts: each key left out takes its default; "all" keeps every period. */
export function retentionRules(raw: RetentionSide | undefined, defaults: RetentionRules): RetentionRules {
  const n = (v: number | 'all' | undefined, d: number) => (v === undefined ? d : v === 'all' ? Infinity : v);
  return {
    keepLast: n(raw?.keep_last, defaults.keepLast),
    hourly: n(raw?.hourly, defaults.hourly),
    daily: n(raw?.daily, defaults.daily),
    weekly: n(raw?.weekly, defaults.weekly),
    monthly: n(raw?.monthly, defaults.monthly),
    yearly: n(raw?.yearly, defaults.yearly),
  };
}

export type MinFree = { percent: number } | { bytes: number };

/** "10%" or "20G" (the schema checked the form) */
export function parseMinFree(text: string | undefined): MinFree | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(%|[KMGT])$/.exec(text)!;
  const value = Number(m[1]);
  return m[2] === '%' ? { percent: value } : { bytes: Math.round(value * 1024 ** ('KMGT'.indexOf(m[2]!) + 1)) };
}

/** "36h", "7d", "2w" in seconds (the schema checked the form) */
export function parseAge(text: string): number {
  const m = /^(\d+)([hdw])$/.exec(text)!;
  return Number(m[1]) * { h: 3600, d: 86_400, w: 604_800 }[m[2] as 'h' | 'd' | 'w'];
}

/** "10m", "90s", "1h" in ms; "off": no limit (the schema checked the form) */
export function parseStallTimeout(text: string): number | undefined {
  if (text === 'off') return undefined;
  return Number(text.slice(0, -1)) * { s: 1000, m: 60_000, h: 3_600_000 }[text.at(-1) as 's' | 'm' | 'h'];
}

export function notifyConfig(notify: NonNullable<RawConfig['notify']>): NonNullable<VaultConfig['notify']> {
  return {
    command: typeof notify.command === 'string' ? [notify.command] : notify.command,
    url: notify.url,
    timeoutSeconds: notify.timeout ?? NOTIFY_DEFAULTS.timeout,
    on: notify.on ?? [...NOTIFY_DEFAULTS.on],
  };
}
