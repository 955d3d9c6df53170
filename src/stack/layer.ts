import type { VaultConfig } from '../config/config.js';
import type { MountEntry } from '../core/mountinfo.js';
import type { Runner } from '../system/runner.js';

export interface StackContext {
  runner: Runner;
  config: VaultConfig;
  /** the current mount table (re-read after a layer changes it) */
  mounts(): Promise<MountEntry[]>;
}

export interface LayerState {
  /** is the layer in its open state? */
  up: boolean;
  /** one line for status and diagnostics */
  detail: string;
}

/**
 * One layer of the backup disk's stack (see docs/ARCHITECTURE.md). open and close
 * inspect first and leave a layer that is already in the wanted state alone.
 */
export interface LayerHandler {
  readonly name: string;
  inspect(ctx: StackContext): Promise<LayerState>;
  open(ctx: StackContext): Promise<'opened' | 'already-open'>;
  close(ctx: StackContext): Promise<'closed' | 'already-closed'>;
  /**
   * Dry-run, above a layer that was opened only on paper: prints (through the runner)
   * what open would run, without inspecting a device that cannot exist yet. Files of
   * the host (keyfile, token hash, fstab) are still checked: they are really there.
   */
  openOnPaper(ctx: StackContext): Promise<void>;
  /** Dry-run: prints what close would run for a layer that was opened only on paper. */
  closeOnPaper(ctx: StackContext): Promise<void>;
}
