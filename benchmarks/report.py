"""Text tables, CSV, JSON and the plot of a `BenchmarkResult`."""

import csv
import json
import os

GRID_COLUMNS = [
    "n",
    "k",
    "linformer_time_s",
    "standard_time_s",
    "time_ratio",
    "paper_time_ratio",
    "bound_time_ratio",
    "fraction_of_bound",
    "flop_fraction_of_bound",
    "linformer_train_time_s",
    "standard_train_time_s",
    "train_time_ratio",
    "linformer_memory_bytes",
    "standard_memory_bytes",
    "linformer_memory_spread_bytes",
    "standard_memory_spread_bytes",
    "memory_ratio",
    "paper_memory_ratio",
    "linformer_allocator_bytes",
    "standard_allocator_bytes",
    "allocator_memory_ratio",
    "linformer_rss_bytes",
    "standard_rss_bytes",
    "rss_memory_ratio",
    "memory_method",
    "linformer_time_min_s",
    "standard_time_min_s",
    "linformer_flops",
    "standard_flops",
    "flop_ratio",
]
LONG_COLUMNS = [
    "n",
    "k",
    "time_s",
    "time_per_token_us",
    "memory_bytes",
    "memory_per_token_bytes",
    "allocator_bytes",
    "memory_method",
]
EFFICIENCY_COLUMNS = [
    "n",
    "k",
    "batch_size",
    "attention_flops",
    "attention_time_s",
    "attention_flops_per_s",
    "matmul_shape",
    "matmul_flops",
    "matmul_time_s",
    "matmul_flops_per_s",
    "efficiency",
]


def _mib(value):
    return "-" if value is None else f"{value / 2**20:.1f}"


def _mib_spread(value, spread):
    """`median (min-max)` in MiB; the median alone without a spread."""
    if value is None or not spread or spread[0] == spread[1]:
        return _mib(value)
    return f"{_mib(value)} ({_mib(spread[0])}-{_mib(spread[1])})"


def _num(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


# quantity -> (cell key, key shown in parentheses, its format, title).
GRID_TABLES = {
    "time": (
        "time_ratio",
        "paper_time_ratio",
        "g",
        "Time saved (standard time / Linformer time): ours (the paper's "
        "Table 3)",
    ),
    "memory": (
        "memory_ratio",
        "paper_memory_ratio",
        "g",
        "Memory saved (standard peak / Linformer peak): ours (the paper's "
        "Table 3)",
    ),
    "bound": (
        "fraction_of_bound",
        "flop_fraction_of_bound",
        ".2f",
        "Time saved as a fraction of the k = 1 bound for its n (time ratio "
        "/ the k = 1 Linformer's time ratio); in parentheses, the fraction "
        "the matmul FLOPs allow (k = 1 FLOPs / this k's)",
    ),
    "training": (
        "train_time_ratio",
        None,
        None,
        "Training step time saved (standard / Linformer: forward, backward, "
        "AdamW update)",
    ),
}


def format_grid(result, quantity):
    """The grid as Table 3: rows n, columns k, `ours (reference)`."""
    key, reference_key, reference_format, title = GRID_TABLES[quantity]
    cells = {(c["n"], c["k"]): c for c in result.grid}
    ns = sorted({n for n, _ in cells})
    ks = sorted({k for _, k in cells})
    width = 18
    lines = [
        title,
        "n \\ k".ljust(7) + "".join(str(k).rjust(width) for k in ks),
    ]
    for n in ns:
        row = str(n).ljust(7)
        for k in ks:
            cell = cells.get((n, k))
            if cell is None:
                row += "".rjust(width)
                continue
            text = _num(cell.get(key))
            reference = cell.get(reference_key) if reference_key else None
            if reference is not None:
                text += f" ({reference:{reference_format}})"
            row += text.rjust(width)
        lines.append(row)
    return "\n".join(lines)


def format_raw_grid(result):
    """Absolute numbers behind the ratios."""
    lines = [
        "Absolute: median time (s); peak activation memory (MiB, the "
        f"{result.settings['memory_method']} method: median (min-max) of "
        "the runs); the ratio of the resident-set growths beside it; and the "
        "matmul FLOP ratio",
        f"{'n':>6} {'k':>5} {'Linformer s':>12} {'standard s':>11} "
        f"{'Linformer MiB':>20} {'standard MiB':>24} {'RSS ratio':>10} "
        f"{'FLOP ratio':>10}",
    ]
    for c in sorted(result.grid, key=lambda c: (c["n"], c["k"])):
        linformer_mib = _mib_spread(
            c["linformer_memory_bytes"], c.get("linformer_memory_spread_bytes")
        )
        standard_mib = _mib_spread(
            c["standard_memory_bytes"], c.get("standard_memory_spread_bytes")
        )
        lines.append(
            f"{c['n']:>6} {c['k']:>5} {_num(c['linformer_time_s'], 3):>12} "
            f"{_num(c['standard_time_s'], 3):>11} "
            f"{linformer_mib:>20} {standard_mib:>24} "
            f"{_num(c.get('rss_memory_ratio')):>10} "
            f"{_num(c.get('flop_ratio')):>10}"
        )
    return "\n".join(lines)


def format_long(result):
    lines = [
        "Linformer alone (--long): time and memory per token",
        f"{'n':>6} {'k':>5} {'time s':>9} {'us/token':>9} "
        f"{'MiB':>9} {'KiB/token':>10}",
    ]
    for r in sorted(result.long, key=lambda r: r["n"]):
        lines.append(
            f"{r['n']:>6} {r['k']:>5} {r['time_s']:>9.3f} "
            f"{r['time_per_token_us']:>9.1f} {_mib(r['memory_bytes']):>9} "
            f"{r['memory_per_token_bytes'] / 1024:>10.2f}"
        )
    return "\n".join(lines)


def format_efficiency(result):
    lines = [
        "Attention efficiency (--efficiency): LinformerAttention FLOP/s "
        "vs a plain matmul",
        f"{'n':>6} {'k':>5} {'GFLOP':>8} {'attn s':>9} {'attn GFLOP/s':>13} "
        f"{'matmul':>18} {'matmul GFLOP/s':>15} {'ratio':>6}",
    ]
    for e in sorted(result.efficiency, key=lambda e: e["n"]):
        shape = "x".join(str(s) for s in e["matmul_shape"])
        lines.append(
            f"{e['n']:>6} {e['k']:>5} {e['attention_flops'] / 1e9:>8.2f} "
            f"{e['attention_time_s']:>9.4f} "
            f"{e['attention_flops_per_s'] / 1e9:>13.1f} {shape:>18} "
            f"{e['matmul_flops_per_s'] / 1e9:>15.1f} {e['efficiency']:>6.2f}"
        )
    breakdowns = [e for e in result.efficiency if e.get("breakdown_s")]
    if breakdowns:
        last = max(breakdowns, key=lambda e: e["n"])
        steps = last["breakdown_s"]
        if "error" not in steps:
            lines.append(
                f"  steps at n={last['n']} (ms, each compiled alone): "
                + ", ".join(f"{k} {v * 1e3:.1f}" for k, v in steps.items())
            )
    return "\n".join(lines)


def format_settings(result):
    s, m = result.settings, result.machine
    return (
        f"Device {s['device']} ({m.get('cpu_model')}, {m.get('cpu_count')} "
        f"CPUs, {m.get('memory_gib')} GiB); num_layers={s['num_layers']} "
        f"({s['num_layers_note']}), hidden={s['hidden_dim']}, "
        f"heads={s['num_heads']}, ff={s['intermediate_dim']}, "
        f"projection={s.get('projection', 'linear')}, "
        f"batch={s['batch_size']}, repeats={s['repeats']}, "
        f"dtype={s['dtype']}, jit_compile={s['jit_compile']}, "
        f"memory={s['memory_method']}; load avg {m.get('load_start')} -> "
        f"{m.get('load_end')}"
    ) + (
        f"; {s['reused_measurements']} measurements reused from an earlier "
        "run (--resume)"
        if s.get("reused_measurements")
        else ""
    )


def format_report(result):
    """The whole report as text."""
    parts = [format_settings(result)]
    if result.grid:
        parts += [format_grid(result, "time"), format_grid(result, "memory")]
        for quantity in ("bound", "training"):  # where they were measured
            key = GRID_TABLES[quantity][0]
            if any(c.get(key) is not None for c in result.grid):
                parts.append(format_grid(result, quantity))
        parts.append(format_raw_grid(result))
    if result.long:
        parts.append(format_long(result))
    if result.efficiency:
        parts.append(format_efficiency(result))
    if result.errors:
        parts.append(
            "Errors\n"
            + "\n".join(f"  {e['what']}: {e['error']}" for e in result.errors)
        )
    return "\n\n".join(parts)


def _write_csv(path, rows, columns):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    c: "x".join(map(str, row[c]))
                    if isinstance(row.get(c), list)
                    else row.get(c)
                    for c in columns
                }
            )


def write_outputs(result, output_dir, plot=True):
    """Writes results.json, grid.csv, long.csv, efficiency.csv and
    bench.png (where there is something to put in them). Returns the paths
    written, by kind."""
    os.makedirs(output_dir, exist_ok=True)
    paths = {"json": os.path.join(output_dir, "results.json")}
    with open(paths["json"], "w") as f:
        json.dump(result.to_dict(), f, indent=1)
    if result.grid:
        paths["grid_csv"] = os.path.join(output_dir, "grid.csv")
        _write_csv(paths["grid_csv"], result.grid, GRID_COLUMNS)
    if result.long:
        paths["long_csv"] = os.path.join(output_dir, "long.csv")
        _write_csv(paths["long_csv"], result.long, LONG_COLUMNS)
    if result.efficiency:
        paths["efficiency_csv"] = os.path.join(output_dir, "efficiency.csv")
        _write_csv(
            paths["efficiency_csv"], result.efficiency, EFFICIENCY_COLUMNS
        )
    if plot and (result.grid or result.long):
        png = os.path.join(output_dir, "bench.png")
        if plot_result(result, png):
            paths["plot"] = png
    return paths


def plot_result(result, path):
    """Time and memory vs n, log-log: the standard model, Linformer per k,
    and the `--long` points. Returns False where matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(12, 4.8))
    series = {}
    standard = {}
    for c in result.grid:
        series.setdefault(c["k"], []).append(
            (c["n"], c["linformer_time_s"], c["linformer_memory_bytes"])
        )
        standard[c["n"]] = (c["standard_time_s"], c["standard_memory_bytes"])
    lines = []  # (n, time_s, memory_bytes) per line, with its style and label
    if standard:
        ns = sorted(standard)
        lines.append(
            ([(n, *standard[n]) for n in ns], "k-o", "standard (RoBERTa)")
        )
    for k in sorted(series):
        lines.append((sorted(series[k]), "-s", f"Linformer k={k}"))
    if result.long:
        rows = sorted(result.long, key=lambda r: r["n"])
        lines.append(
            (
                [(r["n"], r["time_s"], r["memory_bytes"]) for r in rows],
                "--^",
                f"Linformer k={rows[0]['k']} (long)",
            )
        )
    for points, style, label in lines:
        _plot_measured(time_axis, [(p[0], p[1]) for p in points], style, label)
        _plot_measured(
            memory_axis,
            [(p[0], p[2] and p[2] / 2**20) for p in points],
            style,
            label,
        )
    s = result.settings
    for axis, ylabel in (
        (time_axis, "forward time (s), median"),
        (memory_axis, "peak activation memory (MiB)"),
    ):
        axis.set_xlabel("sequence length n")
        axis.set_ylabel(ylabel)
        if not axis.lines:
            # JAX on a CPU, for one, reports no memory: say so, not a blank
            # log axis (which matplotlib cannot scale).
            axis.text(0.5, 0.5, "not measured on this device", ha="center")
            continue
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(
        f"Linformer vs standard attention, {s['device']}, "
        f"{s['num_layers']} layer(s), d={s['hidden_dim']}, "
        f"batch {s['batch_size']}, {s['dtype']}, "
        f"{s.get('projection', 'linear')} E"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _plot_measured(axis, points, style, label):
    """Plots the (n, value) points that were measured: a cell that failed
    or a device without a memory reading gives None, which a log axis
    cannot show."""
    points = [(n, v) for n, v in points if v is not None and v > 0]
    if points:
        axis.plot(*zip(*points), style, label=label)


def read_grid_csv(path):
    """Reads grid.csv back as a list of dicts with numbers parsed."""
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            parsed = {}
            for key, value in row.items():
                if value in ("", "None"):
                    parsed[key] = None
                elif value in ("True", "False"):
                    parsed[key] = value == "True"
                else:
                    try:
                        parsed[key] = int(value)
                    except ValueError:
                        try:
                            parsed[key] = float(value)
                        except ValueError:
                            parsed[key] = value
            rows.append(parsed)
    return rows


__all__ = [
    "format_report",
    "write_outputs",
    "plot_result",
    "read_grid_csv",
]
