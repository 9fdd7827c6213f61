"""``graphlottery bench``: every sparsifier under one protocol.

Per cell (a model on a dataset, with the hyper-parameters of its bundled config) every seed trains
one dense model, shared by all methods. Each method then runs three sweeps at the levels
``1 - (1 - p)^k``, ``k = 1..levels``: ``graph`` (edges only, weights dense), ``weight`` (weights
only, graph dense) and ``joint`` (both, UGS's schedule), on its own schedule (``imp`` if it has one,
else ``one_shot``). Layout of ``out``::

    <model>_<dataset>/seed_<s>/dense.json, dense.pt       the dense run and its output (distillation)
    <model>_<dataset>/<method>/<sweep>/seed_<s>.json       one record per finished level
    <model>_<dataset>/<method>/<sweep>/seed_<s>_<k>.pt     the ticket after level k (imp, to resume)
    bench.json, table.md, <model>_<dataset>.png           the summary, its table, the curves

Every job writes after each level, so a killed bench started again continues where it stopped.
Jobs run in their own processes (``jobs`` at a time), so each reports its own peak memory.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from graphlottery.bundled import resolve_config
from graphlottery.config import ConfigError, GLTConfig
from graphlottery.files import read_json, run_lock, save_figure, subplots, write_json, write_text
from graphlottery.lottery.ticket import Ticket, load_weights, save_weights
from graphlottery.sparsifiers import SPARSIFIERS, check_method, level_targets, make_sparsifier, sparsify

SWEEPS = ("graph", "weight", "joint")
METHODS = ("ugs", "random", "teddy", "wdglt", "dspar", "adaglt", "fastglt", "aceglt", "agreement")
HALF_POINT = 0.005  # "dense - 0.5": half a point of accuracy

# Published extreme sparsities (%) at which a ticket keeps dense accuracy, per dimension (None: no
# winning ticket; a dimension left out: no figure). UGS and random pruning as re-measured in ACE-GLT's
# table, whose pairs such as (none, 67.23) cannot come from one level of a joint schedule, so they are
# read as the extremes of a graph and a weight dimension and compared with our graph and weight
# sweeps; ACE-GLT's own row of that table; FastGLT's and AdaGLT's README targets (graph-only and
# weight-only runs). TEDDY, WD-GLT and DSpar publish no figure that could be read here.
def _published(source: str, rows: dict[tuple[str, str], tuple[float | None | str, float | None | str]]
               ) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(model, dataset): {"graph": .., "weight": .., "source": ..}}``; ``"-"``: not published."""
    return {cell: {"source": source, **{dim: v for dim, v in zip(("graph", "weight"), pair) if v != "-"}}
            for cell, pair in rows.items()}


_ACE = "ACE-GLT table"
PUBLISHED: dict[tuple[str, str, str], dict[str, Any]] = {
    (method, *cell): value for method, table in {
        "ugs": _published(_ACE, {
            ("gcn", "cora"): (None, 67.23), ("gcn", "citeseer"): (32.20, 36.14),
            ("gin", "cora"): (24.36, 90.96), ("gin", "citeseer"): (26.48, 96.49),
            ("gat", "cora"): (37.14, 91.71), ("gat", "citeseer"): (40.11, 92.44)}),
        "random": _published(_ACE, {
            ("gcn", "cora"): (None, None), ("gcn", "citeseer"): (None, 49.61),
            ("gin", "cora"): (13.74, None), ("gin", "citeseer"): (25.31, 60.08),
            ("gat", "cora"): (9.36, 73.37), ("gat", "citeseer"): (None, 80.01)}),
        "aceglt": _published(_ACE, {
            ("gcn", "cora"): (9.84, 89.64), ("gcn", "citeseer"): (40.42, 83.91),
            ("gin", "cora"): (37.14, 94.38), ("gin", "citeseer"): (36.97, 98.56),
            ("gat", "cora"): (46.31, 93.37), ("gat", "citeseer"): (49.72, 93.15)}),
        "fastglt": _published("FastGLT README", {
            ("gcn", "cora"): (35.0, 93.0), ("gcn", "citeseer"): ("-", 95.0),
            ("gin", "cora"): (25.0, 90.0), ("gin", "citeseer"): (45.0, 98.0),
            ("gat", "cora"): (75.0, 98.5), ("gat", "citeseer"): (77.0, 99.0)}),
        "adaglt": _published("AdaGLT README", {
            ("gcn", "cora"): (27.0, 93.0), ("gcn", "citeseer"): (43.0, 97.0),
            ("gin", "cora"): (22.0, 96.0), ("gin", "citeseer"): (42.0, 96.0),
            ("gat", "cora"): (72.0, 98.0), ("gat", "citeseer"): (82.0, 93.0)}),
    }.items() for cell, value in table.items()
}
REPRODUCED_WITHIN = 5.0  # points of sparsity


@dataclass
class BenchConfig:
    """What ``graphlottery bench`` runs. ``configs``: GLT configs (paths or bundled names) whose
    model, dataset and hyper-parameters make the cells; ``methods``: names, or ``name:key=value,...``
    for options; ``epochs``: overrides both phases' epochs; ``levels``: per sweep."""

    configs: list[str] = field(default_factory=lambda: ["glt/cora_gcn.yaml"])
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    sweeps: list[str] = field(default_factory=lambda: list(SWEEPS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    levels: int = 20
    epochs: int | None = None
    jobs: int = 1
    data_root: str | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        for sweep in self.sweeps:
            if sweep not in SWEEPS:
                raise ConfigError(f"unknown sweep {sweep!r}; sweeps: {list(SWEEPS)}")
        for spec in self.methods:
            parse_method(spec)
        if self.levels < 1 or self.jobs < 1 or not self.seeds or (self.epochs is not None and self.epochs < 1):
            raise ConfigError(f"levels, jobs and epochs must be positive and seeds not empty, got levels "
                              f"{self.levels}, jobs {self.jobs}, epochs {self.epochs}, seeds {self.seeds}")
        for what, items in (("method", self.methods), ("seed", self.seeds), ("sweep", self.sweeps)):
            if len(set(items)) != len(items):
                raise ConfigError(f"a {what} is listed twice in {items}")

    def cells(self) -> list[GLTConfig]:
        """The cells' configs, with the bench's seeds, device, data root and epochs."""
        cells = []
        for name in self.configs:
            path = resolve_config(name, "glt")
            overrides: dict[str, Any] = {"seeds": self.seeds, "device": self.device, "data_root": self.data_root,
                                         "random_baseline": False}
            if self.epochs is not None:
                overrides.update(mask_epochs=self.epochs, retrain_epochs=self.epochs)
            config = GLTConfig.from_yaml(path, **overrides)
            if config.task != "node":
                raise ConfigError(f"{name}: the bench ranks node classification; got task {config.task!r}")
            for sweep in self.sweeps:
                graph, weight = sweep_prune(config, sweep)
                if (sweep != "weight" and graph == 0) or (sweep != "graph" and weight == 0):
                    raise ConfigError(f"{name}: the {sweep} sweep needs prune_graph / prune_weight > 0 (the "
                                      f"fraction per level), got {config.prune_graph} / {config.prune_weight}")
                for spec in self.methods:
                    if method_applies(spec, sweep):
                        method_name, options = parse_method(spec)
                        try:
                            check_method(method_name, options, SPARSIFIERS[method_name].schedules[0], graph > 0,
                                         weight > 0, full_batch=config.batch_size is None and config.num_parts is None,
                                         edge_scorer=config.graph_mask == "inductive")
                        except ValueError as err:
                            raise ConfigError(f"{name}: {err}") from None
            cells.append(config)
        return cells


def parse_method(spec: str) -> tuple[str, dict[str, Any]]:
    """``"dspar:reweight=false"`` -> ``("dspar", {"reweight": False})``; checked against the method."""
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"method option {item!r} of {spec!r} must be key=value")
        options[key.strip()] = _scalar(value.strip())
    try:
        make_sparsifier(name, options)
    except (ValueError, TypeError) as err:
        raise ConfigError(str(err)) from None
    return name, options


def _scalar(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def resolved_options(spec: str) -> dict[str, Any]:
    """Every option of the method ``spec`` names, defaults included: a job folder records them, so
    a changed default refuses a resume instead of mixing two settings under one name."""
    name, options = parse_method(spec)
    return dataclasses.asdict(make_sparsifier(name, options).options)


def _slug(spec: str) -> str:
    return spec.replace(":", "-").replace("=", "").replace(",", "-")


def cell_name(config: GLTConfig) -> str:
    return f"{config.model}_{config.dataset.lower()}"


def sweep_prune(config: GLTConfig, sweep: str) -> tuple[float, float]:
    """Per-level ``(prune_graph, prune_weight)`` of a sweep, from the cell's config."""
    return {"graph": (config.prune_graph, 0.0), "weight": (0.0, config.prune_weight),
            "joint": (config.prune_graph, config.prune_weight)}[sweep]


def method_applies(spec: str, sweep: str) -> bool:
    name, _ = parse_method(spec)
    prunes = SPARSIFIERS[name].prunes
    return {"graph": "graph" in prunes, "weight": "weights" in prunes, "joint": prunes == ("graph", "weights")}[sweep]


# --- jobs (each in its own process) ------------------------------------------------------------
def _reset_peak_memory(device: str) -> None:
    """Start a job's peak-memory count: CUDA's allocator statistics; on Linux the process's peak
    resident set (``/proc/self/clear_refs``), so jobs run one after another in one process each
    report their own."""
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # elsewhere: the process's peak so far (_peak_memory_mib says so by its source)


def _peak_memory_mib(device: str) -> float:
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    except (OSError, StopIteration, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _trainer(config: GLTConfig, seed: int):
    from graphlottery.lottery.glt import build_run, load_data, seed_model

    _reset_peak_memory(config.device)
    data, _ = load_data(config)
    return build_run(config, data, seed, seed_model(config, data, seed))


def dense_job(config: dict[str, Any], seed: int, folder: str) -> dict[str, Any]:
    """Train the dense model of one seed; write its record and output."""
    cfg = GLTConfig.from_dict(config)
    run = _trainer(cfg, seed)
    record = run.dense()
    if run.best_output is not None:  # what distillation and agreement read
        save_weights({"output": run.best_output.float().cpu()}, Path(folder) / "dense.pt")
    record["peak_mib"] = _peak_memory_mib(cfg.device)
    write_json(Path(folder) / "dense.json", record)
    return record


def method_job(config: dict[str, Any], seed: int, spec: str, sweep: str, levels: int, folder: str,
               dense_folder: str) -> dict[str, Any]:
    """One method's sweep for one seed, resuming after its last finished level."""
    cfg = GLTConfig.from_dict(config)
    name, options = parse_method(spec)
    method = make_sparsifier(name, options)
    schedule = method.schedules[0]
    prune_graph, prune_weight = sweep_prune(cfg, sweep)
    cfg = dataclasses.replace(cfg, prune_graph=prune_graph, prune_weight=prune_weight)
    run = _trainer(cfg, seed)
    folder_path = Path(folder)
    records_path = folder_path / f"seed_{seed}.json"
    records: list[dict[str, Any]] = read_json(records_path, list) if records_path.is_file() else []
    dense_output = load_weights(Path(dense_folder) / "dense.pt")["output"] if method.needs_dense else None
    method.setup(run, dense_output)
    if records and schedule == "imp":
        run.load_ticket(Ticket.load(folder_path / f"seed_{seed}_{len(records)}.pt"))
    for record in sparsify(run, method, schedule, level_targets(levels, prune_graph, prune_weight),
                           start=len(records)):
        level = len(records) + 1
        if schedule == "imp":
            run.ticket().save(folder_path / f"seed_{seed}_{level}.pt")
        records.append(record)
        write_json(records_path, records)
        (folder_path / f"seed_{seed}_{level - 1}.pt").unlink(missing_ok=True)
    peak = _peak_memory_mib(cfg.device)
    for record in records:
        record.setdefault("peak_mib", peak)
    write_json(records_path, records)
    return {"seed": seed, "levels": len(records)}


# --- the bench ----------------------------------------------------------------------------------
RUN_ONLY = ("seeds", "device", "data_root", "rounds", "random_baseline")  # keys a resumed job may change


def _same_job(folder: Path, setting: dict[str, Any]) -> None:
    """Record what a job folder's results come from, or refuse a different setting there."""
    folder.mkdir(parents=True, exist_ok=True)
    setting = json.loads(json.dumps(setting))
    path = folder / "job.json"
    if not path.is_file():
        write_json(path, setting)
        return
    old = read_json(path, dict)
    changed = sorted(k for k in {*old, *setting} if old.get(k) != setting.get(k))
    if changed:
        raise ConfigError(f"{str(folder)!r} holds results with different {changed}; use another --out or the same "
                          "settings")


def _jobs(bench: BenchConfig, out: Path) -> tuple[list[tuple], list[tuple]]:
    dense, methods = [], []
    for config in bench.cells():
        cell = out / cell_name(config)
        setting = {k: v for k, v in config.to_dict().items() if k not in RUN_ONLY}
        _same_job(cell, setting)
        for seed in bench.seeds:
            folder = cell / f"seed_{seed}"
            if not (folder / "dense.json").is_file():
                folder.mkdir(parents=True, exist_ok=True)
                dense.append((config.to_dict(), seed, str(folder)))
        for spec in bench.methods:
            for sweep in bench.sweeps:
                if not method_applies(spec, sweep):
                    continue
                folder = cell / _slug(spec) / sweep
                _same_job(folder, {"method": spec, "sweep": sweep, "options": resolved_options(spec)})
                for seed in bench.seeds:
                    done = folder / f"seed_{seed}.json"
                    records = read_json(done, list) if done.is_file() else []
                    if len(records) >= bench.levels and "peak_mib" in records[-1]:
                        continue
                    methods.append((config.to_dict(), seed, spec, sweep, bench.levels, str(folder),
                                    str(cell / f"seed_{seed}")))
    methods.sort(key=lambda job: job[1])  # seed by seed: a bench cut short has every method on its first seeds
    return dense, methods


def _run_all(jobs: list[tuple], function, parallel: int, progress: bool, what: str) -> None:
    if not jobs:
        return
    bar = tqdm(total=len(jobs), desc=what, disable=not progress)
    if parallel == 1:
        for job in jobs:
            function(*job)
            bar.update()
        bar.close()
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(parallel, mp_context=context, max_tasks_per_child=1) as pool:
        futures = [pool.submit(function, *job) for job in jobs]
        for future in concurrent.futures.as_completed(futures):
            future.result()  # a failed job stops the bench with its error
            bar.update()
    bar.close()


def run_bench(bench: BenchConfig, out: str | os.PathLike, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) every job of the bench, then write ``bench.json``, ``table.md`` and a PNG
    per cell; return the summary. With ``jobs`` > 1 the jobs run in spawned processes, which import
    the calling script again: call it under ``if __name__ == "__main__":`` (the command and
    ``benchmarks/leaderboard.py`` do)."""
    out = Path(out)
    cells = bench.cells()  # configs and data roots checked before anything is written
    if bench.jobs > 1:  # each process one thread per core it gets (no OpenMP spinning)
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // bench.jobs))
    with run_lock(out):
        write_json(out / "bench_config.json", dataclasses.asdict(bench))
        dense, methods = _jobs(bench, out)
        _run_all(dense, dense_job, bench.jobs, progress, "dense")
        _run_all(methods, method_job, bench.jobs, progress, "methods")
        summary = summarise(bench, cells, out)
        write_json(out / "bench.json", summary)
        write_text(out / "table.md", format_table(summary))
        for cell in summary["cells"]:
            plot_cell(cell, out / f"{cell['cell']}.png")
    return summary


# --- summary ----------------------------------------------------------------------------------
def _mean(values: list[float]) -> float:
    return statistics.fmean(values)


def _std(values: list[float]) -> float:
    return statistics.pstdev(values) if len(values) > 1 else 0.0


def _x_key(sweep: str) -> str:
    return "weight_sparsity" if sweep == "weight" else "graph_sparsity"


def curve(records: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per level: mean sparsities and test metric over seeds, with the spread and per-seed values."""
    levels = min(len(r) for r in records.values())
    points = []
    for k in range(levels):
        recs = [r[k] for r in records.values()]
        tests = [rec["test"] for rec in recs]
        points.append({"level": k + 1, "graph_sparsity": _mean([rec["graph_sparsity"] for rec in recs]),
                       "weight_sparsity": _mean([rec["weight_sparsity"] for rec in recs]),
                       "test": _mean(tests), "test_std": _std(tests), "per_seed": tests,
                       "macs": _mean([rec["macs"] for rec in recs]),
                       "inference_ms": _mean([rec["inference_ms"] for rec in recs])})
    return points


def extreme(points: list[dict[str, Any]], floor: float) -> dict[str, float] | None:
    """The sparsest level whose mean test metric is >= ``floor``, or ``None``."""
    best = None
    for p in points:
        if p["test"] >= floor - 1e-12:
            best = {"graph": p["graph_sparsity"], "weight": p["weight_sparsity"], "level": p["level"],
                    "macs": p["macs"], "inference_ms": p["inference_ms"]}
    return best


def area(points: list[dict[str, Any]], sweep: str, dense: float) -> float:
    """Mean test metric over the sparsity range (trapezoids from the dense point to the last level)."""
    key = _x_key(sweep)
    xs = [0.0] + [p[key] for p in points]
    ys = [dense] + [p["test"] for p in points]
    width = xs[-1] - xs[0]
    if width <= 0:
        return ys[-1]
    return sum((xs[i + 1] - xs[i]) * (ys[i + 1] + ys[i]) / 2 for i in range(len(xs) - 1)) / width


def _verdict(ours: dict[str, float] | None, published: float | None, key: str, last: float) -> str:
    """Whether our extreme is within ``REPRODUCED_WITHIN`` points of the published one, both read on
    the level grid; ``last``: the sweep's sparsest level (%), past which ours is unknown, so a
    published extreme beyond it is undecided."""
    mine = None if ours is None else 100 * ours[key]
    if mine is not None and published is not None and published > mine and abs(mine - last) < 1e-6:
        return f"undecided (ours >= {mine:.1f}, the sparsest level measured; published {published})"
    if published is None and mine is None:
        return "reproduced (no ticket in either)"
    if published is None or mine is None:
        shown = "none" if mine is None else f"{mine:.1f}"
        return f"not reproduced (ours {shown}, published {'none' if published is None else published})"
    ok = abs(mine - published) <= REPRODUCED_WITHIN
    return f"{'reproduced' if ok else 'not reproduced'} (ours {mine:.1f}, published {published})"


def summarise(bench: BenchConfig, cells: list[GLTConfig], out: Path) -> dict[str, Any]:
    """Read every finished job and rank the methods per cell and sweep."""
    summary: dict[str, Any] = {"seeds": bench.seeds, "levels": bench.levels, "cells": []}
    for config in cells:
        cell = out / cell_name(config)
        dense_tests = {s: read_json(cell / f"seed_{s}" / "dense.json", dict)["test"] for s in bench.seeds}
        entry: dict[str, Any] = {
            "cell": cell_name(config), "model": config.model, "dataset": config.dataset,
            "dense": _mean(list(dense_tests.values())), "dense_std": _std(list(dense_tests.values())),
            "hyper": {k: getattr(config, k) for k in ("hidden", "layers", "lr", "weight_decay", "mask_epochs",
                                                     "retrain_epochs", "prune_graph", "prune_weight")},
            "methods": {}}
        for spec in bench.methods:
            result: dict[str, Any] = {}
            for sweep in bench.sweeps:
                if not method_applies(spec, sweep):
                    continue
                folder = cell / _slug(spec) / sweep
                records = {s: read_json(folder / f"seed_{s}.json", list) for s in bench.seeds
                           if (folder / f"seed_{s}.json").is_file()}
                records = {s: r[:bench.levels] for s, r in records.items() if len(r) >= bench.levels}  # finished
                if not records:
                    continue
                dense = _mean([dense_tests[s] for s in records])  # the same seeds as the curve
                points = curve(records)
                seconds = [sum(rec["seconds"] for rec in r) for r in records.values()]
                result[sweep] = {
                    "seeds": sorted(records),
                    "dense": dense,
                    "curve": points,
                    "extreme": extreme(points, dense),
                    "extreme_half": extreme(points, dense - HALF_POINT),
                    "auc": area(points, sweep, dense),
                    "seconds_per_seed": _mean(seconds),
                    "peak_mib": max(r[-1].get("peak_mib", 0.0) for r in records.values()),
                }
                published = PUBLISHED.get((parse_method(spec)[0], config.model, config.dataset.lower()), {})
                key = "graph" if sweep == "graph" else "weight"
                if sweep != "joint" and key in published and not parse_method(spec)[1]:
                    result[sweep]["published"] = {"extreme": published[key], "source": published["source"]}
                    last = 100 * points[-1][_x_key(sweep)]
                    result[sweep]["verdict"] = _verdict(result[sweep]["extreme"], published[key], key, last)
            entry["methods"][spec] = result
        ugs = entry["methods"].get("ugs", {})
        for result in entry["methods"].values():
            for sweep, value in result.items():
                if sweep in ugs and ugs[sweep]["seconds_per_seed"] > 0:
                    value["time_vs_ugs"] = value["seconds_per_seed"] / ugs[sweep]["seconds_per_seed"]
        summary["cells"].append(entry)
    return summary


def _pct(value: dict[str, float] | None, key: str) -> str:
    return "–" if value is None else f"{100 * value[key]:.1f}"


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a markdown table: one row per cell, method and sweep."""
    lines = [f"Seeds {summary['seeds']}, {summary['levels']} levels per sweep. Extreme: the sparsest level "
             "whose mean test accuracy is >= the dense mean (>= dense - 0.5); AUC: mean accuracy over the "
             "sparsity range; time: seconds per seed; memory: peak MiB of one job; MACs and inference time of "
             "the compacted ticket at the extreme (else level 1 is not reached: –).", "",
             "| cell | dense | method | sweep | extreme (%) | extreme -0.5 (%) | AUC | time (s) | vs UGS | peak MiB | "
             "MACs (M) | infer. (ms) | published: verdict [source] |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in summary["cells"]:
        for spec, result in cell["methods"].items():
            for sweep, r in result.items():
                key = "weight" if sweep == "weight" else "graph"
                ext, half = r["extreme"], r["extreme_half"]
                if sweep == "joint":
                    shown = "–" if ext is None else f"{_pct(ext, 'graph')} / {_pct(ext, 'weight')}"
                    shown_half = "–" if half is None else f"{_pct(half, 'graph')} / {_pct(half, 'weight')}"
                else:
                    shown, shown_half = _pct(ext, key), _pct(half, key)
                pub = f"{r['verdict']} [{r['published']['source']}]" if "verdict" in r else ""
                lines.append(
                    f"| {cell['cell']} | {100 * cell['dense']:.2f} ± {100 * cell['dense_std']:.2f} | {spec} "
                    f"| {sweep} | "
                    f"{shown} | {shown_half} | {100 * r['auc']:.2f} | {r['seconds_per_seed']:.0f} | "
                    f"{r.get('time_vs_ugs', float('nan')):.2f} | {r['peak_mib']:.0f} | "
                    f"{'–' if ext is None else format(ext['macs'] / 1e6, '.0f')} | "
                    f"{'–' if ext is None else format(ext['inference_ms'], '.1f')} | {pub} |")
    return "\n".join(lines) + "\n"


def plot_cell(cell: dict[str, Any], path: Path) -> Path:
    """One panel per sweep: every method's mean test accuracy against sparsity, with its seed spread."""
    sweeps = sorted({s for r in cell["methods"].values() for s in r}, key=SWEEPS.index)
    fig, axes = subplots(1, max(len(sweeps), 1), figsize=(5 * max(len(sweeps), 1), 4), sharey=True, squeeze=False)
    for ax, sweep in zip(axes[0], sweeps):
        key = _x_key(sweep)
        for spec, result in cell["methods"].items():
            if sweep not in result:
                continue
            pts = result[sweep]["curve"]
            xs = [0.0] + [100 * p[key] for p in pts]
            ys = [100 * cell["dense"]] + [100 * p["test"] for p in pts]
            sd = [100 * cell["dense_std"]] + [100 * p["test_std"] for p in pts]
            line = ax.plot(xs, ys, marker="o", ms=3, label=spec)[0]
            ax.fill_between(xs, [y - s for y, s in zip(ys, sd)], [y + s for y, s in zip(ys, sd)],
                            color=line.get_color(), alpha=0.15)
        ax.axhline(100 * cell["dense"], color="grey", ls="--", lw=1, label="dense")
        label = {"graph": "graph sparsity (%), weights dense", "weight": "weight sparsity (%), graph dense",
                 "joint": "graph sparsity (%), weights pruned too"}[sweep]
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{cell['dataset']} / {cell['model']}: mean ± std over seeds")
    return save_figure(fig, path)


def extreme_value(result: dict[str, Any], sweep: str, key: str = "extreme") -> float | None:
    """A sweep's extreme sparsity in its own dimension (the joint sweep: its graph sparsity)."""
    found = result.get(sweep, {}).get(key)
    return None if found is None else found["weight" if sweep == "weight" else "graph"]


def quick_line(summary: dict[str, Any]) -> dict[str, Any]:
    """The one-line JSON of ``--quick``: per method its graph and weight extremes (first cell)."""
    cell = summary["cells"][0]
    line: dict[str, Any] = {"cell": cell["cell"], "dense": cell["dense"], "methods": list(cell["methods"])}
    for spec, result in cell["methods"].items():
        line[spec] = {f"{s}_extreme": extreme_value(result, s) for s in ("graph", "weight")}
    return line


def main_quick(out: Path, data_root: str | None, progress: bool) -> dict[str, Any]:
    """A few levels, epochs and seeds of every method on GCN / Cora (a smoke run of the protocol)."""
    bench = BenchConfig(configs=["glt/cora_gcn.yaml"], sweeps=["graph", "weight"], seeds=[0, 1], levels=2,
                        epochs=10, jobs=1, data_root=data_root)
    started = time.perf_counter()
    summary = run_bench(bench, out, progress)
    line = quick_line(summary)
    line["seconds"] = time.perf_counter() - started
    print(f"bench: {out / 'table.md'}", file=sys.stderr)
    return line
