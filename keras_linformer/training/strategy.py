"""Choosing a `tf.distribute` strategy, with clear errors before training."""

import json
import os

from keras_linformer_options import STRATEGIES

__all__ = [
    "STRATEGIES",
    "check_global_batch_size",
    "get_strategy",
    "parse_tf_config",
]


def parse_tf_config(environ=None):
    """Validates `TF_CONFIG` for multi-worker training and returns it.

    Raises:
        ValueError: naming what is missing or malformed.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get("TF_CONFIG")
    if not raw:
        raise ValueError(
            "`--strategy multi_worker` needs the TF_CONFIG environment "
            'variable, e.g. TF_CONFIG=\'{"cluster": {"worker": '
            '["host1:12345", "host2:12345"]}, "task": {"type": '
            '"worker", "index": 0}}\'. It is not set.'
        )
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {raw!r}") from e
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object. Received: {raw!r}")
    cluster = config.get("cluster")
    workers = cluster.get("worker") if isinstance(cluster, dict) else None
    if not isinstance(workers, list) or not workers:
        raise ValueError(
            "TF_CONFIG needs `cluster.worker`, a non-empty list of "
            f"'host:port' addresses. Received: {raw!r}"
        )
    for address in workers:
        host, _, port = str(address).rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(
                f"TF_CONFIG worker address {address!r} is not 'host:port'."
            )
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(
            "TF_CONFIG needs `task` with `type` and `index`, e.g. "
            f'{{"type": "worker", "index": 0}}. Received: {raw!r}'
        )
    members = cluster.get(task["type"])
    if not isinstance(members, list):
        raise ValueError(
            f"TF_CONFIG task type {task['type']!r} is not in the cluster "
            f"({sorted(cluster)})."
        )
    index = task["index"]
    if not isinstance(index, int) or not 0 <= index < len(members):
        raise ValueError(
            f"TF_CONFIG task index {index!r} is out of range for "
            f"{len(members)} {task['type']} address(es)."
        )
    return config


def get_strategy(name="auto"):
    """Returns the `tf.distribute.Strategy` that `--strategy NAME` selects.

    - `"auto"`: all local GPUs mirrored if there are several, else one
      device (the GPU, or the CPU).
    - `"mirrored"`: `MirroredStrategy` over all local GPUs, or over all
      logical CPU devices where there is no GPU.
    - `"multi_worker"`: `MultiWorkerMirroredStrategy`, configured by
      `TF_CONFIG` (validated first).
    - `"one_device"`: the first GPU, else the CPU.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(
            f"Unknown strategy {name!r}. Expected one of {STRATEGIES}."
        )
    if name == "multi_worker":
        parse_tf_config()
        # Before anything else touches the devices: the strategy configures
        # the collective ops of the runtime, which must not be started yet.
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=gpus or cpus)
    if name == "auto" and len(gpus) > 1:
        return tf.distribute.MirroredStrategy(devices=gpus)
    return tf.distribute.OneDeviceStrategy((gpus or cpus)[0])


def check_global_batch_size(batch_size, strategy):
    """Refuses a global batch that the replicas cannot split evenly."""
    replicas = strategy.num_replicas_in_sync
    if batch_size < 1 or batch_size % replicas:
        raise ValueError(
            f"The global batch size ({batch_size}) must be a positive "
            f"multiple of the number of replicas ({replicas}) so that each "
            "replica gets the same batch. Use e.g. --batch-size "
            f"{max(replicas, batch_size - batch_size % replicas)}."
        )
