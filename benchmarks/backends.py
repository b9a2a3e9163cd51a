"""What the benchmark needs from each Keras backend: a compiled forward
pass (and any function compiled alike), inputs, a sync point, and the
backend's own allocator peak.

The worker picks the backend Keras runs on (`KERAS_BACKEND`): TensorFlow
(a `tf.function` with a fixed input signature), JAX (`jax.jit` of the
model's `stateless_call`) or PyTorch (eager under `torch.no_grad`). Only
the chosen backend is imported, so a machine with JAX alone (no
TensorFlow, no tensorflow-text) runs the benchmark.

Example:

>>> backend = current()
>>> forward = backend.forward(model, batch_size=1, jit_compile=False)
>>> backend.sync(forward(backend.inputs(task, length=512)))
"""

import numpy as np


class TensorFlowBackend:
    name = "tensorflow"

    def __init__(self):
        import tensorflow as tf

        self.tf = tf

    def has_gpu(self):
        return bool(self.tf.config.list_physical_devices("GPU"))

    def _signature(self, batch_size):
        """Ids of any length, so one trace serves every length."""
        spec = self.tf.TensorSpec((batch_size, None), self.tf.int32)
        return [{"token_ids": spec, "padding_mask": spec}]

    def forward(self, model, batch_size, jit_compile):
        """A compiled inference step; the length axis is left open so that
        one trace serves the short warm-up and the full-length run."""
        tf = self.tf

        @tf.function(
            input_signature=self._signature(batch_size),
            jit_compile=jit_compile,
        )
        def forward(inputs):
            return model(inputs, training=False)

        return forward

    def compile(self, fn, jit_compile=False):
        """`fn` (tensors in, tensors out) as a traced `tf.function`."""
        return self.tf.function(fn, jit_compile=jit_compile)

    def train_step(self, model, batch_size, jit_compile):
        """One compiled training step: forward, backward, AdamW update."""
        import keras

        tf = self.tf
        optimizer = keras.optimizers.AdamW(1e-5)
        optimizer.build(model.trainable_variables)

        @tf.function(
            input_signature=self._signature(batch_size),
            jit_compile=jit_compile,
        )
        def step(inputs):
            with tf.GradientTape() as tape:
                outputs = model(inputs, training=True)
                loss = tf.reduce_mean(tf.square(tf.cast(outputs, "float32")))
            variables = model.trainable_variables
            optimizer.apply(tape.gradient(loss, variables), variables)
            return loss

        return step

    def inputs(self, task, length, seed=0):
        tf = self.tf
        generator = tf.random.Generator.from_seed(seed)
        token_ids = generator.uniform(
            (task["batch_size"], length),
            minval=0,
            maxval=task["vocabulary_size"],
            dtype=tf.int32,
        )
        return {
            "token_ids": token_ids,
            "padding_mask": tf.ones((task["batch_size"], length), tf.int32),
        }

    def sync(self, outputs):
        # Fetch one element: waits for the whole pass, copies 4 bytes.
        return float(outputs[(0,) * len(outputs.shape)].numpy())

    def allocator(self):
        """TensorFlow's allocator on the GPU, else the CPU's (oneDNN)."""
        device = "GPU:0" if self.has_gpu() else "CPU:0"
        tf = self.tf

        class Allocator:
            resets = True  # the peak can be reset: any run in a process

            def reset(self):
                try:
                    tf.config.experimental.reset_memory_stats(device)
                except (ValueError, RuntimeError):
                    pass

            def info(self):
                try:
                    return tf.config.experimental.get_memory_info(device)
                except (ValueError, RuntimeError):
                    return None

        return Allocator()


def _numpy_inputs(task, length, seed):
    rng = np.random.default_rng(seed)
    shape = (task["batch_size"], length)
    return {
        "token_ids": rng.integers(0, task["vocabulary_size"], shape, "int32"),
        "padding_mask": np.ones(shape, "int32"),
    }


class JaxBackend:
    name = "jax"

    def __init__(self):
        import jax

        self.jax = jax

    def has_gpu(self):
        return self.jax.devices()[0].platform == "gpu"

    def forward(self, model, batch_size, jit_compile):
        """`jax.jit` of the model's `stateless_call` (JAX always compiles;
        `jit_compile` is TensorFlow's XLA switch)."""
        jax = self.jax
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def forward(trainable, non_trainable, inputs):
            outputs, _ = model.stateless_call(
                trainable, non_trainable, inputs, training=False
            )
            return outputs

        return lambda inputs: forward(trainable, non_trainable, inputs)

    def compile(self, fn, jit_compile=False):
        """`jax.jit` of `fn`; a layer it calls reads its weights as
        constants of the trace (inference only)."""
        return self.jax.jit(fn)

    def train_step(self, model, batch_size, jit_compile):
        """One `jax.jit` training step on the model's stateless call."""
        import jax
        import jax.numpy as jnp
        import keras

        optimizer = keras.optimizers.AdamW(1e-5)
        optimizer.build(model.trainable_variables)
        state = [
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in optimizer.variables],
        ]

        def loss_fn(trainable, non_trainable, inputs):
            outputs, non_trainable = model.stateless_call(
                trainable, non_trainable, inputs, training=True
            )
            loss = jnp.mean(jnp.square(outputs.astype("float32")))
            return loss, non_trainable

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        @jax.jit
        def step(trainable, non_trainable, optimizer_variables, inputs):
            (loss, non_trainable), grads = grad_fn(
                trainable, non_trainable, inputs
            )
            trainable, optimizer_variables = optimizer.stateless_apply(
                optimizer_variables, grads, trainable
            )
            return loss, trainable, non_trainable, optimizer_variables

        def run(inputs):
            loss, *state[:] = step(*state, inputs)
            return loss

        return run

    def inputs(self, task, length, seed=0):
        import jax.numpy as jnp

        arrays = _numpy_inputs(task, length, seed)
        return {key: jnp.asarray(value) for key, value in arrays.items()}

    def sync(self, outputs):
        return float(outputs.block_until_ready().ravel()[0])

    def allocator(self):
        """The device's `memory_stats()` (GPUs; `None` on CPU)."""
        device = self.jax.devices()[0]

        class Allocator:
            # JAX keeps one peak per process: valid for the first full-
            # length run after a short warm-up only, as resident memory.
            resets = False

            def reset(self):
                pass

            def info(self):
                stats = device.memory_stats()
                if not stats or "peak_bytes_in_use" not in stats:
                    return None
                return {
                    "current": stats["bytes_in_use"],
                    "peak": stats["peak_bytes_in_use"],
                }

        return Allocator()


class TorchBackend:
    name = "torch"

    def __init__(self):
        import torch

        self.torch = torch

    def has_gpu(self):
        return self.torch.cuda.is_available()

    def forward(self, model, batch_size, jit_compile):
        torch = self.torch

        def forward(inputs):
            with torch.no_grad():
                return model(inputs, training=False)

        return forward

    def compile(self, fn, jit_compile=False):
        """`fn` run eagerly without autograd (PyTorch compiles nothing
        here, as in `forward`)."""
        torch = self.torch

        def run(*args):
            with torch.no_grad():
                return fn(*args)

        return run

    def train_step(self, model, batch_size, jit_compile):
        """One eager training step: forward, `backward()`, AdamW update."""
        import keras

        torch = self.torch
        optimizer = keras.optimizers.AdamW(1e-5)
        optimizer.build(model.trainable_variables)

        def step(inputs):
            model.zero_grad()
            outputs = model(inputs, training=True)
            loss = torch.mean(torch.square(outputs.float()))
            loss.backward()
            variables = model.trainable_variables
            optimizer.apply([v.value.grad for v in variables], variables)
            return loss.detach()

        return step

    def inputs(self, task, length, seed=0):
        from keras import ops

        arrays = _numpy_inputs(task, length, seed)
        return {key: ops.convert_to_tensor(v) for key, v in arrays.items()}

    def sync(self, outputs):
        if self.has_gpu():
            self.torch.cuda.synchronize()
        return float(outputs.reshape(-1)[0].cpu())

    def allocator(self):
        """`torch.cuda.max_memory_allocated` (GPUs; `None` on CPU)."""
        torch = self.torch
        gpu = self.has_gpu()

        class Allocator:
            resets = True

            def reset(self):
                if gpu:
                    torch.cuda.reset_peak_memory_stats()

            def info(self):
                if not gpu:
                    return None
                return {
                    "current": torch.cuda.memory_allocated(),
                    "peak": torch.cuda.max_memory_allocated(),
                }

        return Allocator()


BACKENDS = {
    "tensorflow": TensorFlowBackend,
    "jax": JaxBackend,
    "torch": TorchBackend,
}


def has_allocator_statistics(backend):
    """Whether `backend`'s allocator reports a peak on this device.

    TensorFlow's CPU allocator does so on some processors only: on AMD EPYC
    `get_memory_info("CPU:0")` raises "Allocator stats not available".
    JAX and PyTorch report none on CPUs.
    """
    return backend.allocator().info() is not None


def current():
    """The backend Keras runs on."""
    import keras

    name = keras.backend.backend()
    if name not in BACKENDS:
        raise RuntimeError(
            f"The benchmark runs on {sorted(BACKENDS)}; KERAS_BACKEND is "
            f"{name!r}."
        )
    return BACKENDS[name]()
