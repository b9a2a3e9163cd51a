"""`LinearWarmup` and how the training recipes use it."""

import keras
import numpy as np
import pytest

from keras_linformer.training import recipes
from keras_linformer.training.schedules import LinearWarmup


def _decay(peak=1e-3, steps=90):
    return keras.optimizers.schedules.PolynomialDecay(
        peak, decay_steps=steps, end_learning_rate=0.0
    )


def _values(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_without_warmup_it_is_the_wrapped_schedule():
    decay = _decay()
    steps = [0, 1, 45, 89, 90, 200]
    np.testing.assert_array_equal(
        _values(LinearWarmup(decay, 0), steps), _values(decay, steps)
    )


def test_rises_linearly_then_follows_the_decay():
    decay = _decay(peak=1e-3, steps=90)
    schedule = LinearWarmup(decay, warmup_steps=10)
    rising = _values(schedule, range(11))
    np.testing.assert_allclose(rising, np.arange(11) * 1e-4, rtol=1e-6)
    after = _values(schedule, [10, 20, 55, 100, 150])
    np.testing.assert_allclose(
        after, _values(decay, [0, 10, 45, 90, 140]), rtol=1e-6
    )
    assert float(schedule(100)) == 0.0


def test_serializes_alone_and_inside_an_optimizer():
    schedule = LinearWarmup(_decay(), warmup_steps=10)
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert isinstance(restored, LinearWarmup)
    assert restored.warmup_steps == 10
    steps = [0, 3, 10, 40, 99]
    np.testing.assert_allclose(
        _values(restored, steps), _values(schedule, steps), rtol=1e-7
    )
    optimizer = keras.optimizers.AdamW(learning_rate=schedule)
    clone = keras.optimizers.AdamW.from_config(optimizer.get_config())
    assert isinstance(clone._learning_rate, LinearWarmup)
    assert clone._learning_rate.warmup_steps == 10


@pytest.mark.parametrize(
    "after, warmup, match",
    [
        (1e-3, 5, "LearningRateSchedule"),
        (_decay(), -1, "int >= 0"),
        (_decay(), 2.5, "int >= 0"),
        (_decay(), True, "int >= 0"),
    ],
)
def test_refuses_bad_arguments(after, warmup, match):
    with pytest.raises(ValueError, match=match):
        LinearWarmup(after, warmup)


def test_recipe_optimizer_warms_up_then_decays_to_zero_at_the_end():
    optimizer = recipes.make_optimizer(1e-3, total_steps=100, warmup_steps=20)
    schedule = optimizer._learning_rate
    assert float(schedule(10)) == pytest.approx(5e-4)
    assert float(schedule(20)) == pytest.approx(1e-3)
    assert float(schedule(60)) == pytest.approx(5e-4)
    assert float(schedule(100)) == 0.0


def test_recipe_without_warmup_is_plain_linear_decay():
    schedule = recipes.make_optimizer(1e-3, total_steps=100)._learning_rate
    assert float(schedule(0)) == pytest.approx(1e-3)
    assert float(schedule(50)) == pytest.approx(5e-4)


def test_recipe_refuses_warmup_as_long_as_training():
    with pytest.raises(ValueError, match=r"`warmup_steps` \(100\).*100"):
        recipes.make_optimizer(1e-3, total_steps=100, warmup_steps=100)
