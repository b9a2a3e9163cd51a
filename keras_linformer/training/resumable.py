"""`model.fit` that checkpoints every N steps and resumes where it stopped."""

import keras
import tensorflow as tf

from keras_linformer.training.multi_worker import WorkerCheckpointManager
from keras_linformer.training.multi_worker import check_same_step
from keras_linformer.training.multi_worker import fit_loop
from keras_linformer.training.multi_worker import is_multi_worker


def _seed_states(model):
    """Dropout (and other) RNG states, which `tf.train.Checkpoint` misses."""
    return [v for v in model.variables if "seed_generator_state" in v.path]


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
    `checkpoint_every` steps and when training ends.

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
    resumed_from = None
    latest = manager.latest_checkpoint
    if latest:
        with strategy.scope():
            status = checkpoint.restore(latest)
        status.assert_existing_objects_matched()
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
