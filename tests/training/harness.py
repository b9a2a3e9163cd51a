"""Runs `keras-linformer` in a fresh process, with hooks for the tests.

    python harness.py [--cpus N] [--pause-after-step S] [--pause-in-save]
        [--marker FILE] [--dump-weights FILE] -- pretrain ARGS...

--cpus N             split the CPU into N logical devices (N replicas for
                     `--strategy mirrored`); must happen before TensorFlow
                     starts, hence a fresh process.
--pause-after-step S after training step S (and its checkpoint, if any),
                     touch --marker and sleep, so that the test can SIGKILL
                     the process at a known point of the run.
--pause-in-save      likewise, inside the final save: the preset is fully
                     written into its temporary directory, not yet renamed.
--dump-weights FILE  when the final save starts (on every worker, chief or
                     not), write the task's weights to FILE (.npz).

Exits with the command line's exit code.
"""

import argparse
import contextlib
import os
import sys
import time


def _pause(marker):
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(600)  # The test kills the process; this is a backstop.
    sys.exit("harness: paused process was not killed")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpus", type=int, default=None)
    parser.add_argument("--pause-after-step", type=int, default=None)
    parser.add_argument("--pause-in-save", action="store_true")
    parser.add_argument("--marker", default=None)
    parser.add_argument("--dump-weights", default=None)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv

    import tensorflow as tf

    if args.cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpus
        )

    import numpy as np

    import keras_linformer_cli as cli
    from keras_linformer.training import recipes
    from keras_linformer.training import resumable

    if args.pause_after_step is not None:
        on_batch_end = resumable.StepCheckpoint.on_train_batch_end

        def pausing_on_batch_end(self, batch, logs=None):
            on_batch_end(self, batch, logs)
            step = int(self.model.optimizer.iterations.numpy())
            if step == args.pause_after_step:
                _pause(args.marker)

        resumable.StepCheckpoint.on_train_batch_end = pausing_on_batch_end

    if args.pause_in_save:
        real_atomic_directory = recipes.atomic_directory

        @contextlib.contextmanager
        def pausing_atomic_directory(path):
            with real_atomic_directory(path) as tmp:
                yield tmp
                _pause(args.marker)

        recipes.atomic_directory = pausing_atomic_directory

    if args.dump_weights:
        real_save = recipes._save

        def dumping_save(task, *rest, **kwargs):
            weights = {
                f"{i:03d}:{v.path}": np.asarray(v.numpy())
                for i, v in enumerate(task.weights)
            }
            np.savez(args.dump_weights, **weights)
            return real_save(task, *rest, **kwargs)

        recipes._save = dumping_save

    sys.exit(cli.main(argv))


if __name__ == "__main__":
    main()
