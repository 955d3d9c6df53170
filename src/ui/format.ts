// Human-readable numbers. Pure.
import { formatBytes } from '../core/byte-size.js';

export { formatBytes };

export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  if (m < 60) return `${m}m${String(rest).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

export function formatProgress(bytes: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (bytes / elapsedMs) * 1000 : 0;
  return `${formatBytes(bytes)} sent, ${formatBytes(Math.round(rate))}/s, ${formatDuration(elapsedMs)} elapsed`;
}
