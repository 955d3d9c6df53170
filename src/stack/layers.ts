import type { TargetConfig } from '../config/config.js';
import { LAYER_NAMES, type LayerName } from '../config/defaults.js';
import type { LayerHandler, SetupQuestion } from './layer.js';
import { luksLayer } from './luks.js';
import { lvmLayer } from './lvm.js';
import { raidLayer } from './raid.js';

// The handlers of the layers a config may name (its names: LAYER_NAMES). A new layer
// is its handler file and its line here; the compiler refuses a name without one.
// Made when asked, not when this module loads: the handlers ask this module in turn
// (what they sit on), and a module cycle is safe only for what is used later.
function handlers(): Record<LayerName, LayerHandler> {
  return { raid: raidLayer, luks: luksLayer, lvm: lvmLayer };
}

/** The handlers of these layers, in their order. */
export function layerHandlers(names: readonly LayerName[]): LayerHandler[] {
  const all = handlers();
  return names.map((n) => all[n]);
}

/** What a layer sits on: the device of the target's nearest layer below it (in the order of LAYER_NAMES), else the partition. */
export function deviceBelow(target: TargetConfig, layer: LayerHandler): string {
  const order: readonly string[] = LAYER_NAMES;
  const below = target.layers.filter((n) => order.indexOf(n) < order.indexOf(layer.name));
  return (
    layerHandlers(below)
      .map((h) => h.device?.(target))
      .filter((d) => d !== undefined)
      .at(-1) ?? target.partition
  );
}

/** The GPT partition type the bottom layer wants (a RAID member's), else a filesystem's. */
export function partitionType(target: Pick<TargetConfig, 'layers'>): string | undefined {
  return layerHandlers(target.layers)[0]?.partitionType;
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
  return (
    target.device ??
    layerHandlers(target.layers)
      .map((h) => h.device?.(target))
      .filter((d) => d !== undefined)
      .at(-1)
  );
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
