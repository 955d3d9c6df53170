import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { scratchDir } from '../support/scratch.js';

// Every command loads the config first: its time must grow with the number of sources,
// not with its square. Paths that do not exist are stat'ed as cheaply as real ones.

function configWith(n: number): string {
  const dir = scratchDir('cfg-scale');
  const config = join(dir, 'config.toml');
  writeFileSync(config, `sources = ["/srv/a", { path = "/srv/b", name = "b-own" }]\n[target]\n`);
  // half the names derived from the path, some paths also in the config: both lists are walked
  const lines = ['/srv/a'];
  for (let i = 0; i < n; i++) lines.push(`/srv/scale/${i % 2 === 0 ? `p${i}` : `q/${i}`}`);
  writeFileSync(join(dir, 'sources'), `${lines.join('\n')}\n`);
  return config;
}

/** The fastest of a few loads, in ms: the least disturbed by the other work of the machine. */
async function loadMs(config: string): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const start = process.hrtime.bigint();
    await loadConfig(config);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return best;
}

test('a config with 20,000 sources loads in linear time: 4x the sources, well under 6x the time', async (t) => {
  const small = configWith(5_000);
  const large = configWith(20_000);
  const loaded = await loadConfig(large);
  assert.equal(loaded.sources.length, 20_002, 'every source, each once');
  assert.equal(loaded.sourcesFromFile.length, 20_001);
  await loadMs(small); // warm
  const t5 = await loadMs(small);
  const t20 = await loadMs(large);
  t.diagnostic(`5,000 sources ${t5.toFixed(0)} ms, 20,000 ${t20.toFixed(0)} ms`);
  assert.ok(t20 / t5 < 6, `5,000 sources ${t5.toFixed(0)} ms, 20,000 ${t20.toFixed(0)} ms: ${(t20 / t5).toFixed(1)}x`);
  assert.ok(t20 < 2_000, `20,000 sources ${t20.toFixed(0)} ms`);
});
