"""Training and evaluation loops for `MultiWorkerMirroredStrategy`.

In Keras 3.15 with TensorFlow 2.21, `model.fit` and `model.evaluate` fail
under `tf.distribute.MultiWorkerMirroredStrategy` for any dataset whose
elements are nested (a dict of inputs, an `(x, y, sample_weight)` tuple),
which is every dataset of the Linformer tasks:

1. Keras' trainer (`_maybe_symbolic_build`) passes the whole nested batch
   to `strategy.reduce`, and the collective reduction tries to convert the
   dict to one tensor: `ValueError: Attempt to convert a value
   ({'token_ids': PerReplica:{...}, ...}) with an unsupported type
   (<class 'dict'>) to a Tensor.` (keras-team/keras issues 20585, 20329).
2. Past that, `reduce_per_replica` reduces the scalar logs of every step
   with `strategy.reduce("MEAN", v, axis=0)`: `ValueError: Invalid
   reduction dimension 0 for input with 0 dimensions.`

This module trains the same compiled model with the model's own
`train_step` / `test_step` (so the same loss, optimizer, loss scaling for
distribution and metrics as `fit`) inside `strategy.run`, on a dataset
distributed with `strategy.experimental_distribute_dataset`, and reports
progress through Keras callbacks (`History`, the `ProgbarLogger` of `fit`,
and any given callbacks). `fit_resumable` uses it under
`MultiWorkerMirroredStrategy`; other strategies keep `model.fit`.

Checkpoints follow the TensorFlow multi-worker guide: every worker saves
(saving may need collective operations), the chief into the real
directory, the other workers into temporary directories that are removed
again. Every worker restores from the chief's directory, so for resuming,
the output directory must be on storage that all workers see (NFS, GCS);
workers that restored different steps stop with an error instead of
training apart.
"""

import os
import shutil
import weakref

import keras
import tensorflow as tf

from keras_linformer import upstream


def is_multi_worker(strategy):
    """Whether `strategy` is a `MultiWorkerMirroredStrategy`."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def task_info(strategy):
    """`(task_type, task_id)` of this process in the cluster.

    `(None, None)` outside a multi-worker cluster.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not is_multi_worker(strategy):
        return None, None
    return resolver.task_type, resolver.task_id


def is_chief(strategy):
    """Whether this process writes the artifacts: the `chief` task, or
    worker 0 of a cluster without a chief, or any single process."""
    task_type, task_id = task_info(strategy)
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    resolver = strategy.cluster_resolver
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def worker_directory(directory, strategy):
    """Where this worker writes what the chief writes into `directory`.

    The chief writes into `directory`; every other worker into a hidden
    sibling `.<name>-<task_type>-<task_id>` that it removes after writing.
    """
    if is_chief(strategy):
        return directory
    task_type, task_id = task_info(strategy)
    directory = os.path.abspath(directory)
    return os.path.join(
        os.path.dirname(directory),
        f".{os.path.basename(directory)}-{task_type}-{task_id}",
    )


class WorkerCheckpointManager:
    """A `tf.train.CheckpointManager` for every worker of a cluster.

    The chief saves into `directory`, other workers into a temporary
    directory that is removed after each save. `latest_checkpoint` is the
    chief's latest checkpoint for every worker.
    """

    def __init__(self, checkpoint, directory, strategy, max_to_keep=2):
        self.directory = directory
        self.chief = is_chief(strategy)
        self._write_directory = worker_directory(directory, strategy)
        self._checkpoint = checkpoint
        self._max_to_keep = max_to_keep
        self._manager = self._make_manager()

    def _make_manager(self):
        return tf.train.CheckpointManager(
            self._checkpoint,
            self._write_directory,
            max_to_keep=self._max_to_keep if self.chief else 1,
        )

    @property
    def latest_checkpoint(self):
        return tf.train.latest_checkpoint(self.directory)

    def save(self, checkpoint_number=None):
        path = self._manager.save(checkpoint_number=checkpoint_number)
        if not self.chief:
            shutil.rmtree(self._write_directory, ignore_errors=True)
            self._manager = self._make_manager()
        return path


def check_same_step(strategy, step):
    """Raises on every worker if the workers are not all at `step`."""
    if not is_multi_worker(strategy):
        return

    @tf.function
    def gather_steps():
        local = strategy.run(lambda: tf.constant([step], tf.int64))
        return strategy.gather(local, axis=0)

    steps = sorted(set(int(s) for s in gather_steps().numpy()))
    if len(steps) > 1:
        raise ValueError(
            f"The workers restored different checkpoints (steps {steps}). "
            "Every worker resumes from the chief's checkpoint directory: "
            "put --output-dir on storage shared by all workers (NFS, GCS), "
            "or start all workers without checkpoints."
        )


def _distribute(dataset, strategy):
    """Distributes a dataset of global batches across all replicas.

    Each global batch is split into one batch per replica, in order, on
    every worker (data sharding), so the replicas together train on
    exactly the batches that one process would.
    """
    options = tf.data.Options()
    policy = dataset.options().experimental_distribute.auto_shard_policy
    if policy == tf.data.experimental.AutoShardPolicy.AUTO:
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        dataset = dataset.with_options(options)
    return strategy.experimental_distribute_dataset(dataset)


def _symbolic_build(model, dataset, strategy):
    # Creates the compiled loss and metric variables (and any unbuilt
    # layer) from the dataset's element spec, in the strategy's scope, as
    # `fit` does before its first step (`upstream.symbolic_build`: this
    # loop goes once `fit` works under MultiWorkerMirroredStrategy).
    with strategy.scope():
        upstream.symbolic_build(model, dataset.element_spec)
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)


def _make_train_function(model, strategy):
    def train_function(iterator):
        strategy.run(model.train_step, args=(next(iterator),))
        return model.get_metrics_result()

    return tf.function(train_function, reduce_retracing=True)


_test_functions = weakref.WeakKeyDictionary()


def _cached_test_function(model, strategy):
    # One traced function per model and strategy, as `model.evaluate`
    # keeps `model.test_function`.
    cached = _test_functions.get(model)
    if cached is None or cached[0] is not strategy:
        cached = (strategy, _make_test_function(model, strategy))
        _test_functions[model] = cached
    return cached[1]


def _make_test_function(model, strategy):
    def test_function(iterator):
        # The end of the data is agreed by all workers; the last batch may
        # leave some replicas an empty batch, which weighs nothing.
        optional = iterator.get_next_as_optional()

        def step():
            strategy.run(model.test_step, args=(optional.get_value(),))
            return True

        return tf.cond(optional.has_value(), step, lambda: False)

    return tf.function(test_function, reduce_retracing=True)


def _numpy_logs(logs):
    return {name: float(value) for name, value in logs.items()}


def evaluate_loop(model, dataset, steps=None, strategy=None):
    """`model.evaluate(dataset, steps=steps, return_dict=True)` as a loop.

    Works under every strategy; `MultiWorkerMirroredStrategy` needs it.
    Every worker must call it with the same dataset.

    Returns:
        A dict of the compiled metrics (`loss` and the metrics) as floats.
    """
    strategy = strategy or model.distribute_strategy
    _symbolic_build(model, dataset, strategy)
    test_function = _cached_test_function(model, strategy)
    model.reset_metrics()
    iterator = iter(_distribute(dataset, strategy))
    step = 0
    while steps is None or step < steps:
        if not bool(test_function(iterator)):
            break
        step += 1
    return _numpy_logs(model.get_metrics_result())


def evaluate(model, dataset, strategy=None):
    """`model.evaluate(..., return_dict=True)`, or `evaluate_loop` where
    `model.evaluate` fails (`MultiWorkerMirroredStrategy`)."""
    strategy = strategy or model.distribute_strategy
    if is_multi_worker(strategy):
        return evaluate_loop(model, dataset, strategy=strategy)
    return model.evaluate(dataset, return_dict=True, verbose=0)


def fit_loop(
    model,
    dataset,
    *,
    epochs,
    steps_per_epoch,
    initial_epoch=0,
    validation_data=None,
    validation_steps=None,
    callbacks=(),
    verbose="auto",
    strategy=None,
):
    """`model.fit` for a dataset that repeats, as a custom loop.

    Trains `steps_per_epoch` steps in each epoch from `initial_epoch` to
    `epochs` with the model's `train_step` in `strategy.run`, validates
    after each epoch, and calls the callbacks as `fit` does (the chief
    shows `fit`'s progress bar; other workers are silent). `dataset`
    yields global batches (batched with the global batch size, repeating
    forever).

    Returns:
        The `keras.callbacks.History`.
    """
    strategy = strategy or model.distribute_strategy
    if verbose == "auto":
        verbose = 1
    if not is_chief(strategy):
        verbose = 0
    _symbolic_build(model, dataset, strategy)
    callbacks = keras.callbacks.CallbackList(
        list(callbacks),
        add_history=True,
        add_progbar=verbose != 0,
        verbose=verbose,
        epochs=epochs,
        steps=steps_per_epoch,
        model=model,
    )
    train_function = _make_train_function(model, strategy)
    iterator = iter(_distribute(dataset, strategy))
    model.stop_training = False
    callbacks.on_train_begin()
    training_logs = None
    logs = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        for step in range(steps_per_epoch):
            callbacks.on_train_batch_begin(step)
            try:
                logs = train_function(iterator)
            except (StopIteration, tf.errors.OutOfRangeError):
                raise ValueError(
                    "The training dataset ran out of batches: it must "
                    "repeat forever (`dataset.repeat()`)."
                ) from None
            logs = _numpy_logs(logs)
            callbacks.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        epoch_logs = dict(logs)
        if validation_data is not None:
            validation_logs = evaluate_loop(
                model, validation_data, validation_steps, strategy
            )
            epoch_logs.update(
                {
                    f"val_{name}": value
                    for name, value in validation_logs.items()
                }
            )
        callbacks.on_epoch_end(epoch, epoch_logs)
        training_logs = epoch_logs
        if model.stop_training:
            break
    callbacks.on_train_end(logs=training_logs)
    return model.history
