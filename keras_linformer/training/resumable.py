"""`model.fit` that checkpoints every N steps and resumes where it stopped."""

import contextlib
import functools
import json
import os
import re
import shutil
import sys

import keras
import tensorflow as tf

from keras_linformer.artifacts import write_text_atomic
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
    `directory` (one writer at a time)."""
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if not _STALE.match(name):
            continue
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.remove(path)


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


# Beside the checkpoints: the settings of the model they hold.
MODEL_SETTINGS_FILE = "model_settings.json"
# Config keys that do not change what the weights mean (`name` also differs
# between processes); the preprocessor is the data's, not the model's.
_NOT_SETTINGS = {
    "name",
    "trainable",
    "dtype",
    "preprocessor",
    "build_config",
    "compile_config",
}


def _settings(config):
    if isinstance(config, dict):
        return {
            key: _settings(value)
            for key, value in config.items()
            if key not in _NOT_SETTINGS
        }
    if isinstance(config, (list, tuple)):
        return [_settings(value) for value in config]
    return config


def model_settings(model):
    """The config of `model` (a keras_hub `Task`: its backbone's config and
    its head's arguments) as JSON, without what does not change the meaning
    of its weights."""
    return _settings(json.loads(json.dumps(model.get_config(), default=str)))


def setting_differences(there, here, path=""):
    """Each setting that differs between two JSON configs, by its dotted
    path: `"pooling: 'cls' there, 'mean' here"`.

    >>> list(setting_differences({"a": {"b": 1}}, {"a": {"b": 2}}))
    ['a.b: 1 there, 2 here']
    """
    if isinstance(there, dict) and isinstance(here, dict):
        for key in sorted(set(there) | set(here)):
            yield from setting_differences(
                there.get(key), here.get(key), f"{path}{key}."
            )
    elif there != here:
        yield f"{path.rstrip('.')}: {there!r} there, {here!r} here"


def check_model_settings(model, directory, chief=True):
    """Records the settings of `model` (a keras_hub `Task`, whose config
    names no generated layer names) beside its checkpoints in `directory`
    (the chief does), or raises when the checkpoints there are of another
    model.

    Restoring only matches variables, so a model of other settings but the
    same weights (another classifier `pooling`, another `dropout`) would
    silently continue the other model's training. A directory from before
    this record is taken as it is.

    Raises:
        ValueError: naming each setting that differs, there and here.
    """
    settings = model_settings(model)
    path = os.path.join(directory, MODEL_SETTINGS_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            recorded = json.load(f)
        differences = list(setting_differences(recorded, settings))
        if differences:
            raise ValueError(
                f"The checkpoints in {directory} are of another model "
                f"({'; '.join(differences)}): training would continue "
                "that model. Train in another output directory, or remove "
                "this one to start over."
            )
    elif chief:
        write_text_atomic(path, json.dumps(settings, indent=2) + "\n")


# What restoring a truncated, corrupted or incomplete checkpoint raises.
_UNREADABLE = (tf.errors.OpError, IndexError, ValueError, OSError, RuntimeError)


def _first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def restore_latest_intact(checkpoint, directory, strategy=None):
    """Restores `checkpoint` from the newest checkpoint of `directory` that
    reads (those that do not are reported on stderr), and returns its path
    (`None` if there is none).

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
        except _UNREADABLE as e:
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
    """The number of batches in one pass over `validation_data`, a finite
    `tf.data.Dataset` (counted where tf.data cannot tell)."""
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
    """Saves a `tf.train.CheckpointManager` checkpoint every `every` steps
    (to temporary files, then renamed: a kill leaves the previous one)."""

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

    Model weights, optimizer and RNG states are checkpointed every
    `checkpoint_every` steps and at the end (the two newest are kept).

    Args:
        train_dataset: a `tf.data.Dataset` that repeats forever and yields
            the same batches from every new iterator (as
            `keras_linformer.training.data` builds them).
        validation_steps: default: one pass (`validation_batches`).
        strategy: the strategy the model was built under (default: the
            model's). Under `MultiWorkerMirroredStrategy`, training runs in
            `multi_worker.fit_loop`.
        The other arguments: as for `model.fit`.

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
    manager = WorkerCheckpointManager(checkpoint, checkpoint_dir, strategy)
    if manager.chief:
        remove_stale_temporaries(checkpoint_dir)
    latest = restore_latest_intact(checkpoint, checkpoint_dir, strategy)
    step = int(model.optimizer.iterations.numpy())
    if latest:
        print(
            f"Resuming from checkpoint {latest} at step {step} of "
            f"{epochs * steps_per_epoch}.",
            flush=True,
        )
    check_same_step(strategy, step)
    callbacks = list(callbacks) + [StepCheckpoint(manager, checkpoint_every)]
    if is_multi_worker(strategy):
        fit = functools.partial(fit_loop, model, strategy=strategy)
    else:
        fit = model.fit
    history = {}

    def run(initial_epoch, last_epoch, steps):
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
    return {"history": history, "resumed_from": step if latest else None}
