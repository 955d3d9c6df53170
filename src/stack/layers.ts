import type { TargetConfig } from '../config/config.js';
import { LAYER_NAMES, type LayerName } from '../config/defaults.js';
import type { LayerHandler, SetupQuestion } from './layer.js';
import { luksLayer } from './luks.js';
import { lvmLayer } from './lvm.js';
import { raidLayer } from './raid.js';

// The handlers of the layers a config may name (its names: LAYER_NAMES). A new layer
// is its handler file and its line here; the compiler refuses a name without one.
const HANDLERS = { raid: raidLayer, luks: luksLayer, lvm: lvmLayer } as const satisfies Record<LayerName, LayerHandler>;

/** The handlers of these layers, in their order. */
export function layerHandlers(names: readonly LayerName[]): LayerHandler[] {
  return names.map((n) => HANDLERS[n]);
}

/** Every layer a target may have, bottom-up (doctor without a config checks them all). */
export function allLayerHandlers(): LayerHandler[] {
  return layerHandlers(LAYER_NAMES);
}

/** Does any of these layers need the question asked? */
export function layersAsk(names: readonly LayerName[], question: SetupQuestion): boolean {
  return layerHandlers(names).some((h) => h.asks?.includes(question));
}

/** The device the filesystem is on: target.device as written, else what the topmost layer gives (none for a plain disk). */
export function filesystemDevice(target: TargetConfig): string | undefined {
  return target.device ?? layerHandlers(target.layers).map((h) => h.device?.(target)).filter((d) => d !== undefined).at(-1);
}

/** The layer sets the wizard offers, the whole stack first (so Enter takes it). */
export const LAYER_SETS: readonly { layers: LayerName[]; what: string }[] = [
  { layers: ['raid', 'luks', 'lvm'], what: 'mirror, encrypted, a volume per host (recommended)' },
  { layers: ['raid', 'luks'], what: 'mirror, encrypted, one host' },
  { layers: ['luks', 'lvm'], what: 'encrypted, a volume per host, no mirror' },
  { layers: ['luks'], what: 'encrypted, one host, no mirror' },
  { layers: ['raid'], what: 'mirror, not encrypted, one host' },
  { layers: [], what: 'not encrypted, no mirror, one host' },
];
