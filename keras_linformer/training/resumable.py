"""`model.fit` that checkpoints every N steps and resumes where it stopped."""

import os
import re
import shutil
import sys

import keras
import tensorflow as tf

from keras_linformer.training.multi_worker import WorkerCheckpointManager
from keras_linformer.training.multi_worker import check_same_step
from keras_linformer.training.multi_worker import fit_loop
from keras_linformer.training.multi_worker import is_multi_worker


def _seed_states(model):
    """Dropout (and other) RNG states, which `tf.train.Checkpoint` misses."""
    return [v for v in model.variables if "seed_generator_state" in v.path]


# What a save killed midway leaves: TensorFlow writes `ckpt-N_temp/`, then
# renames its files to `ckpt-N.*`, then rewrites `checkpoint` through a
# temporary `checkpoint.tmp<hex>`.
_STALE = re.compile(r"^(.+_temp|checkpoint\.tmp[0-9a-f]+)$")


def remove_stale_temporaries(directory):
    """Removes the temporary directories and files of killed saves from
    `directory` (one writer at a time). Returns the removed names."""
    if not os.path.isdir(directory):
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        if not _STALE.match(name):
            continue
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                continue
        removed.append(name)
    return removed


def checkpoint_candidates(directory):
    """The checkpoints of `directory` to resume from, newest first: those
    the `checkpoint` state file lists (its latest among them), and any
    complete-looking `PREFIX.index` beside them, ordered by step."""
    paths = set()
    state = tf.train.get_checkpoint_state(directory)
    if state is not None:
        listed = [
            *state.all_model_checkpoint_paths,
            state.model_checkpoint_path,
        ]
        paths.update(os.path.abspath(path) for path in listed if path)
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            prefix = name[: -len(".index")]
            if name.endswith(".index") and not _STALE.match(prefix):
                paths.add(os.path.abspath(os.path.join(directory, prefix)))

    def step(path):
        match = re.search(r"-(\d+)$", path)
        return int(match.group(1)) if match else -1

    return sorted(paths, key=lambda path: (step(path), path), reverse=True)


def _first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def restore_latest_intact(checkpoint, directory, strategy=None):
    """Restores `checkpoint` from the newest checkpoint of `directory` that
    reads, and returns its path (`None` if there is none).

    A checkpoint that cannot be read (a data file cut short by a full disk
    or a copy, corrupted bytes, files missing) is reported on stderr and
    the previous one is tried: `fit_resumable` keeps two.

    Raises:
        ValueError: if checkpoints exist but none can be restored, naming
            each one and why.
        AssertionError: if a checkpoint reads but does not match the model
            (`assert_existing_objects_matched`): another architecture.
    """
    strategy = strategy or tf.distribute.get_strategy()
    failures = []
    for path in checkpoint_candidates(directory):
        try:
            with strategy.scope():
                status = checkpoint.restore(path)
        except (
            tf.errors.OpError,
            IndexError,
            ValueError,
            OSError,
            RuntimeError,
        ) as e:
            failures.append((path, e))
            print(
                f"Checkpoint {path} could not be read ({_first_line(e)}); "
                "trying the previous one.",
                file=sys.stderr,
                flush=True,
            )
            continue
        status.assert_existing_objects_matched()
        if failures:
            print(
                f"Resuming from the earlier checkpoint {path}: "
                f"{len(failures)} newer one(s) could not be read.",
                file=sys.stderr,
                flush=True,
            )
        return path
    if failures:
        reasons = "; ".join(
            f"{os.path.basename(path)}: {_first_line(e)}"
            for path, e in failures
        )
        raise ValueError(
            f"No checkpoint in {directory} can be read ({reasons}). Remove "
            "the directory to train from the start."
        )
    return None


def validation_batches(validation_data):
    """The number of batches in one pass over `validation_data` (a finite
    `tf.data.Dataset`): its cardinality, or, where tf.data cannot tell
    (after `filter`, bucketing), counted in one pass.

    `fit_resumable` passes it to `fit` as `validation_steps`, so that every
    validation covers exactly the whole data, whatever Keras' epoch
    iterator infers about a dataset of unknown length.

    Raises:
        ValueError: for a dataset that repeats forever.
    """
    cardinality = int(validation_data.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            "The validation data repeats forever: give a finite dataset (one "
            "pass over the validation examples)."
        )
    if cardinality == tf.data.UNKNOWN_CARDINALITY:
        cardinality = int(validation_data.reduce(0, lambda count, _: count + 1))
    return cardinality


class StepCheckpoint(keras.callbacks.Callback):
    """Saves a `tf.train.CheckpointManager` checkpoint every `every` steps.

    TensorFlow writes each checkpoint to temporary files and renames them,
    so a kill during a save leaves the previous checkpoint intact.
    """

    def __init__(self, manager, every):
        super().__init__()
        self.manager = manager
        self.every = every

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if self.every and step % self.every == 0:
            self.manager.save(checkpoint_number=step)


def fit_resumable(
    model,
    train_dataset,
    *,
    epochs,
    steps_per_epoch,
    checkpoint_dir,
    checkpoint_every=100,
    validation_data=None,
    validation_steps=None,
    callbacks=(),
    verbose="auto",
    strategy=None,
):
    """Trains with `model.fit`, resuming from the latest checkpoint if any.

    `train_dataset` must repeat forever and yield the same batches in the
    same order on every run *and from every new iterator* (seeded
    shuffling with `reshuffle_each_iteration=False`, stateless masking, as
    `keras_linformer.training.data` builds them), so that a resumed run
    sees exactly the batches the killed run had not trained on.
    Model weights, optimizer state and RNG states are checkpointed every
    `checkpoint_every` steps and when training ends; the two newest
    checkpoints are kept. On a restart, the newest checkpoint that reads is
    restored (a truncated or missing one is reported on stderr and the one
    before it used), and what a save killed midway left (`ckpt-N_temp/`)
    is removed.

    Validation runs over the whole of `validation_data` after every epoch:
    `validation_steps` defaults to its number of batches
    (`validation_batches`).

    `strategy` is the `tf.distribute.Strategy` the model was built under
    (default: the model's own). Under `MultiWorkerMirroredStrategy`, where
    `model.fit` fails in Keras 3.15, training runs in
    `keras_linformer.training.multi_worker.fit_loop` (the same steps,
    metrics and progress output); the chief writes the checkpoints, and
    every worker resumes from the chief's.

    Returns:
        A dict: `history` (the merged `History.history`), `resumed_from`
        (the step training resumed at, or `None`).

    Example:

    >>> result = fit_resumable(
    ...     model, train_ds, epochs=2, steps_per_epoch=100,
    ...     checkpoint_dir="runs/mlm/checkpoints", checkpoint_every=50,
    ... )
    """
    if model.optimizer is None:
        raise ValueError("fit_resumable needs a compiled model.")
    if validation_steps is None and isinstance(
        validation_data, tf.data.Dataset
    ):
        validation_steps = validation_batches(validation_data)
    strategy = strategy or model.distribute_strategy
    with strategy.scope():
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        checkpoint = tf.train.Checkpoint(
            model=model, optimizer=model.optimizer, seeds=_seed_states(model)
        )
    multi_worker = is_multi_worker(strategy)
    if multi_worker:
        manager = WorkerCheckpointManager(
            checkpoint, checkpoint_dir, strategy, max_to_keep=2
        )
    else:
        manager = tf.train.CheckpointManager(
            checkpoint, checkpoint_dir, max_to_keep=2
        )
    if not multi_worker or manager.chief:
        # The chief (or the one process) is the one writer of the directory.
        remove_stale_temporaries(checkpoint_dir)
    resumed_from = None
    latest = restore_latest_intact(checkpoint, checkpoint_dir, strategy)
    if latest:
        resumed_from = int(model.optimizer.iterations.numpy())
        print(
            f"Resuming from checkpoint {latest} at step "
            f"{resumed_from} of {epochs * steps_per_epoch}.",
            flush=True,
        )
    step = int(model.optimizer.iterations.numpy())
    check_same_step(strategy, step)
    callbacks = list(callbacks) + [StepCheckpoint(manager, checkpoint_every)]
    history = {}

    def run(initial_epoch, last_epoch, steps):
        if multi_worker:

            def fit(dataset, **kwargs):
                return fit_loop(model, dataset, strategy=strategy, **kwargs)

        else:
            fit = model.fit
        result = fit(
            train_dataset.skip(int(model.optimizer.iterations.numpy())),
            initial_epoch=initial_epoch,
            epochs=last_epoch,
            steps_per_epoch=steps,
            validation_data=validation_data,
            validation_steps=validation_steps,
            callbacks=callbacks,
            verbose=verbose,
        )
        for key, values in result.history.items():
            history.setdefault(key, []).extend(values)
        manager.save(checkpoint_number=int(model.optimizer.iterations.numpy()))

    epoch, done_in_epoch = divmod(step, steps_per_epoch)
    if epoch < epochs and done_in_epoch:
        # Finish the epoch the killed run was in, then the others.
        run(epoch, epoch + 1, steps_per_epoch - done_in_epoch)
        epoch += 1
    if epoch < epochs:
        run(epoch, epochs, steps_per_epoch)
    return {"history": history, "resumed_from": resumed_from}
