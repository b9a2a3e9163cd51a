"""Training throughput of the Linformer masked LM on 1, 2, ... replicas.

    python -m benchmarks.replicas                             # 1 and 2
    python -m benchmarks.replicas --replicas 1,2,4,8 --steps 50

Trains `LinformerMaskedLM` with `model.fit` under `OneDeviceStrategy` (1
replica) or `MirroredStrategy` (several) on synthetic, already masked
batches (so the input pipeline is not measured) and prints steps per second
and tokens per second for each replica count. The batch per replica is
fixed (`--batch-per-replica`), so the global batch grows with the replicas
(weak scaling); ideal scaling keeps steps/s and multiplies tokens/s.

Replicas are the local GPUs where there are enough of them; without GPUs
they are logical CPU devices that split the same CPU cores, which checks
that mirrored training runs but shows no speedup (there is no more
hardware). Each replica count runs in a fresh process: logical devices
must be configured before TensorFlow starts, and two `MirroredStrategy`
objects in one process collide (tensorflow/tensorflow issue 62790).

`--out FILE` also writes the results as JSON.
"""

import argparse
import json
import os
import subprocess
import sys
import time

# The folder that holds `benchmarks/`: each replica count's child process
# runs `python -m benchmarks.replicas` from there.
REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", default="1,2")
    parser.add_argument("--batch-per-replica", type=int, default=8)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--projected-dim", type=int, default=32)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--intermediate-dim", type=int, default=512)
    parser.add_argument("--vocabulary-size", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=20, help="Timed steps.")
    parser.add_argument(
        "--warmup", type=int, default=3, help="Untimed steps (tracing)."
    )
    parser.add_argument("--out", default=None, help="Also write JSON here.")
    parser.add_argument(
        "--worker", type=int, default=None, help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def measure(args):
    """Runs in the child process: one replica count, one JSON line."""
    import tensorflow as tf

    replicas = args.worker
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if len(gpus) < replicas:
            return {"replicas": replicas, "skipped": f"{len(gpus)} GPU(s)"}
        kind = "GPU"
    else:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * replicas
        )
        kind = "CPU"
    import keras
    import numpy as np

    from keras_linformer.models import LinformerBackbone
    from keras_linformer.models import LinformerMaskedLM
    from keras_linformer.training import optimizers

    devices = [d.name for d in tf.config.list_logical_devices(kind)][:replicas]
    if replicas == 1:
        strategy = tf.distribute.OneDeviceStrategy(devices[0])
    else:
        strategy = tf.distribute.MirroredStrategy(devices)

    batch = args.batch_per_replica * replicas
    length = args.sequence_length
    masks = max(1, round(0.15 * length))
    rng = np.random.default_rng(0)
    n = 4 * batch
    features = {
        "token_ids": rng.integers(5, args.vocabulary_size, (n, length)),
        "padding_mask": np.ones((n, length), "int32"),
        "mask_positions": np.sort(
            rng.choice(length, (n, masks)), axis=1
        ).astype("int32"),
    }
    features["token_ids"] = features["token_ids"].astype("int32")
    labels = rng.integers(5, args.vocabulary_size, (n, masks)).astype("int32")
    dataset = (
        tf.data.Dataset.from_tensor_slices((features, labels))
        .repeat()
        .batch(batch, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )

    keras.utils.set_random_seed(0)
    with strategy.scope():
        backbone = LinformerBackbone(
            vocabulary_size=args.vocabulary_size,
            num_layers=args.num_layers,
            num_heads=args.num_heads,
            hidden_dim=args.hidden_dim,
            intermediate_dim=args.intermediate_dim,
            max_sequence_length=length,
            projected_dim=args.projected_dim,
            dropout=0.1,
        )
        model = LinformerMaskedLM(backbone)
        model.compile(
            optimizer=optimizers.AdamW(1e-4, weight_decay=0.01, clipnorm=1.0),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    model.fit(dataset, epochs=1, steps_per_epoch=args.warmup, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=args.steps, verbose=0)
    seconds = time.perf_counter() - start
    return {
        "replicas": replicas,
        "devices": devices,
        "global_batch": batch,
        "sequence_length": length,
        "steps": args.steps,
        "seconds": seconds,
        "steps_per_second": args.steps / seconds,
        "tokens_per_second": args.steps * batch * length / seconds,
    }


def main(argv=None):
    args = parse_args(argv)
    if args.worker is not None:
        print("RESULT " + json.dumps(measure(args)), flush=True)
        return 0
    counts = [int(r) for r in args.replicas.split(",") if r.strip()]
    # The child gets the same settings (everything but --replicas/--out).
    settings = {
        key: value
        for key, value in vars(args).items()
        if key not in ("replicas", "out", "worker")
    }
    passthrough = [
        item
        for key, value in settings.items()
        for item in (f"--{key.replace('_', '-')}", str(value))
    ]
    results = []
    for replicas in counts:
        python_path = [REPOSITORY_ROOT, os.environ.get("PYTHONPATH")]
        env = dict(
            os.environ,
            TF_CPP_MIN_LOG_LEVEL="2",
            PYTHONPATH=os.pathsep.join(p for p in python_path if p),
        )
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.replicas",
                *passthrough,
                "--worker",
                str(replicas),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=3600,
        )
        lines = [
            line[len("RESULT ") :]
            for line in completed.stdout.splitlines()
            if line.startswith("RESULT ")
        ]
        if completed.returncode or not lines:
            sys.stderr.write(
                completed.stdout[-3000:] + completed.stderr[-3000:]
            )
            print(f"{replicas} replica(s): failed", flush=True)
            return 1
        results.append(json.loads(lines[0]))
        result = results[-1]
        if "skipped" in result:
            print(f"{replicas} replica(s): skipped ({result['skipped']})")
            continue
        print(
            f"{replicas} replica(s) on {', '.join(result['devices'])}: "
            f"global batch {result['global_batch']} x {result['sequence_length']}"
            f" tokens, {result['steps_per_second']:.2f} steps/s, "
            f"{result['tokens_per_second']:,.0f} tokens/s",
            flush=True,
        )
    base = next((r for r in results if "skipped" not in r), None)
    if base:
        for result in results:
            if "skipped" not in result:
                speedup = (
                    result["tokens_per_second"] / base["tokens_per_second"]
                )
                print(
                    f"  {result['replicas']} replica(s): tokens/s x{speedup:.2f}"
                    f" of {base['replicas']} replica(s)"
                )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
