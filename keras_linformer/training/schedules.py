"""A linear learning-rate warmup in front of any Keras schedule."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_linformer")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0, then hands over to another schedule.

    For `step < warmup_steps` the rate is
    `after_warmup(0) * step / warmup_steps`; from then on it is
    `after_warmup(step - warmup_steps)`. With `warmup_steps=0` it is
    `after_warmup` exactly.

    Args:
        after_warmup: a `keras.optimizers.schedules.LearningRateSchedule`
            (for example `PolynomialDecay` over the steps after warmup).
        warmup_steps: int >= 0.

    Example:

    >>> decay = keras.optimizers.schedules.PolynomialDecay(
    ...     1e-3, decay_steps=900, end_learning_rate=0.0
    ... )
    >>> schedule = LinearWarmup(decay, warmup_steps=100)
    >>> round(float(schedule(50)), 6)  # half way up
    0.0005
    >>> optimizer = keras.optimizers.AdamW(learning_rate=schedule)
    """

    def __init__(self, after_warmup, warmup_steps):
        if not isinstance(
            after_warmup, keras.optimizers.schedules.LearningRateSchedule
        ):
            raise ValueError(
                "`after_warmup` must be a keras LearningRateSchedule. "
                f"Received: {after_warmup!r}"
            )
        if (
            isinstance(warmup_steps, bool)
            or not isinstance(warmup_steps, int)
            or warmup_steps < 0
        ):
            raise ValueError(
                f"`warmup_steps` must be an int >= 0. Received: {warmup_steps!r}"
            )
        self.after_warmup = after_warmup
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        if not self.warmup_steps:
            return self.after_warmup(step)
        step = ops.cast(step, "float32")
        warmup_steps = float(self.warmup_steps)
        after = ops.cast(
            self.after_warmup(ops.maximum(step - warmup_steps, 0.0)), "float32"
        )
        peak = ops.cast(self.after_warmup(0), "float32")
        rising = peak * step / warmup_steps
        return ops.where(step < warmup_steps, rising, after)

    def get_config(self):
        return {
            "after_warmup": keras.optimizers.schedules.serialize(
                self.after_warmup
            ),
            "warmup_steps": self.warmup_steps,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["after_warmup"] = keras.optimizers.schedules.deserialize(
            config["after_warmup"]
        )
        return cls(**config)
