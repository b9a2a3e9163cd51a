"""Training and evaluation loops for `MultiWorkerMirroredStrategy`.

Under this strategy, Keras 3.15's `model.fit` and `model.evaluate` fail on
nested batches (keras-team/keras issues 20585 and 20329), so `fit_loop` and
`evaluate` run the model's own `train_step` / `test_step` in `strategy.run`.

Checkpoints follow the TensorFlow multi-worker guide: every worker saves,
the chief into the real directory, the others into temporary ones that
they remove again; every worker restores from the chief's.
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


def is_chief(strategy):
    """Whether this process writes the artifacts: the `chief` task, or
    worker 0 of a cluster without a chief, or any single process."""
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    if resolver.task_type in (None, "chief"):
        return True
    first_worker = resolver.task_type == "worker" and resolver.task_id == 0
    return first_worker and "chief" not in resolver.cluster_spec().as_dict()


class WorkerCheckpointManager:
    """A `tf.train.CheckpointManager` for every worker of a cluster (or the
    one process).

    The chief saves into `directory`; every other worker into a hidden
    sibling `.<name>-<task_type>-<task_id>` that it removes after each save.
    """

    def __init__(self, checkpoint, directory, strategy):
        self.chief = is_chief(strategy)
        self._write_directory = directory
        if not self.chief:
            resolver = strategy.cluster_resolver
            parent, name = os.path.split(os.path.abspath(directory))
            task = f"{resolver.task_type}-{resolver.task_id}"
            self._write_directory = os.path.join(parent, f".{name}-{task}")
        self._checkpoint = checkpoint
        self._manager = self._make_manager()

    def _make_manager(self):
        return tf.train.CheckpointManager(
            self._checkpoint,
            self._write_directory,
            max_to_keep=2 if self.chief else 1,
        )

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
    """Splits each global batch of `dataset` across all replicas, in order
    (data sharding): together they train on the batches of one process."""
    options = tf.data.Options()
    policy = dataset.options().experimental_distribute.auto_shard_policy
    if policy == tf.data.experimental.AutoShardPolicy.AUTO:
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        dataset = dataset.with_options(options)
    return strategy.experimental_distribute_dataset(dataset)


def _symbolic_build(model, dataset, strategy):
    with strategy.scope():
        upstream.symbolic_build(model, dataset.element_spec)
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)


# One traced test function per model and strategy, as `model.evaluate`
# keeps `model.test_function`.
_test_functions = weakref.WeakKeyDictionary()


def _test_function(model, strategy):
    cached = _test_functions.get(model)
    if cached is not None and cached[0] is strategy:
        return cached[1]

    @tf.function(reduce_retracing=True)
    def test_function(iterator):
        # The end of the data is agreed by all workers; the last batch may
        # leave some replicas an empty batch, which weighs nothing.
        optional = iterator.get_next_as_optional()

        def step():
            strategy.run(model.test_step, args=(optional.get_value(),))
            return True

        return tf.cond(optional.has_value(), step, lambda: False)

    _test_functions[model] = (strategy, test_function)
    return test_function


def _numpy_logs(logs):
    return {name: float(value) for name, value in logs.items()}


def evaluate(model, dataset, strategy=None, steps=None):
    """`model.evaluate(dataset, steps=steps, return_dict=True)`, as a loop
    under `MultiWorkerMirroredStrategy`, where every worker must call it
    with the same dataset.

    Returns:
        A dict of the compiled metrics (`loss` and the metrics) as floats.
    """
    strategy = strategy or model.distribute_strategy
    if not is_multi_worker(strategy):
        return model.evaluate(dataset, steps=steps, return_dict=True, verbose=0)
    _symbolic_build(model, dataset, strategy)
    test_function = _test_function(model, strategy)
    model.reset_metrics()
    iterator = iter(_distribute(dataset, strategy))
    step = 0
    while steps is None or step < steps:
        if not bool(test_function(iterator)):
            break
        step += 1
    return _numpy_logs(model.get_metrics_result())


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
    """`model.fit` for a dataset of global batches that repeats forever,
    as a custom loop: the chief shows `fit`'s progress bar, the other
    workers are silent.

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

    @tf.function(reduce_retracing=True)
    def train_function(iterator):
        strategy.run(model.train_step, args=(next(iterator),))
        return model.get_metrics_result()

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
            validation_logs = evaluate(
                model, validation_data, strategy, validation_steps
            )
            for name, value in validation_logs.items():
                epoch_logs[f"val_{name}"] = value
        callbacks.on_epoch_end(epoch, epoch_logs)
        training_logs = epoch_logs
        if model.stop_training:
            break
    callbacks.on_train_end(logs=training_logs)
    return model.history
