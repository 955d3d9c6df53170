import { TargetError } from '../../core/errors.js';
import type { Runner } from '../../system/runner.js';
import { closeStack, stackLayers } from '../../stack/stack.js';
import { waitForDevice } from '../../stack/devices.js';
import { runCommand, type StackContext, type StepContext } from '../../stack/layer.js';
import { readMounts } from '../../system/mounts.js';
import { setupConfig, type PlanStep, type SetupSpec } from './setup-plan.js';

// How setup carries out one step of its plan. What a step does beyond its commands
// (a keyfile, the ARRAY line, fstab, the token, the config) is the step's own, given
// by the layer handler that made it; whether it is done already and how its layer
// comes up again after a reboot too (`done`, `bringUp`).

/** Runs one step: its own preparation, its commands in order, the device they make, its own files. */
export async function runStep(step: PlanStep, ctx: StepContext): Promise<void> {
  const { runner } = ctx;
  await step.prepare?.(ctx);
  if (step.run) {
    // a step that does its commands itself reads what the earlier steps made (the ARRAY
    // line from the array), which a dry-run did not make
    if (runner.changesTakeEffect) await step.run(ctx);
  } else {
    for (const command of step.commands) await runCommand(runner, command, ctx.passphrase);
  }
  // a dry-run made no device to wait for, and nothing for the step's own files to go on
  if (!runner.changesTakeEffect) return;
  // udev makes the node of what the step made a moment later
  if (step.appears && !(await waitForDevice(step.appears)))
    throw new TargetError(`${step.appears} did not appear`, 'run setup again (it resumes)');
  await step.finish?.(ctx);
}

/** The stack setup builds, as the layer handlers see it (the config it is about to write). */
export function setupStack(runner: Runner, spec: SetupSpec): StackContext {
  return { runner, config: setupConfig(spec), mounts: readMounts };
}

/** Setup leaves the disk as every backup expects it: closed, by the same layer handlers. */
export async function closeAfterSetup(stack: StackContext): Promise<void> {
  const left = await closeStack(stack, { opened: stackLayers(stack), onPaper: false });
  if (left.length > 0)
    throw new TargetError(
      `setup is done, but the disk could not be closed:\n  ${left.join('\n  ')}`,
      'run: btrfs-vault close',
    );
}
