"""Finished runs side by side: ``graphlottery summary`` and ``graphlottery compare``.

A run is an ``--out`` folder with its ``results.json`` and ``config.yaml``. :func:`plot_compare`
overlays the test curves of several ``glt`` or ``imp`` runs (other methods, models or seeds) in
one PNG, each with its seed spread; :func:`compare_table` prints them as one table. Reading and
comparing runs imports no torch (matplotlib for the plot); :func:`summary_table` imports the
run's driver for its own table.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRIC_NAMES = {"accuracy": "accuracy", "roc_auc": "ROC-AUC"}
CURVES = ("glt", "imp")


@dataclass(frozen=True)
class Run:
    """A finished run: its folder, driver (``glt``, ``imp``, ``coldbrew`` or ``graphcl``), results and config."""

    path: Path
    kind: str
    results: dict[str, Any]
    config: dict[str, Any]

    @property
    def metric(self) -> str:
        return self.results.get("metric", "accuracy")

    @property
    def epochs(self) -> str:
        """Training epochs per round as the config set them (GLT: mask search + retraining)."""
        c = self.config
        if "mask_epochs" in c:
            bird = " at most" if c.get("early_bird_window") else ""
            return f"{c['mask_epochs']} mask search{bird} + {c['retrain_epochs']} retraining epochs"
        return f"{c.get('epochs', '?')} epochs"


def _kind(results: dict[str, Any]) -> str | None:
    if "rounds" in results:
        return "glt" if "task" in results else "imp"
    if "splits" in results:
        return "coldbrew"
    if "accuracy_mean" in results:
        return "graphcl"
    return None


def read_run(path: str | os.PathLike) -> Run:
    """The finished run in folder ``path``; a missing folder, a run with no ``results.json`` yet or
    a file of another kind raises an error that says so."""
    import yaml

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"run folder {str(path)!r} does not exist")
    results_file = path / "results.json"
    if not results_file.is_file():
        raise FileNotFoundError(f"{str(path)!r} has no results.json: not a finished run (a run writes it after "
                                f"its last seed; start the run again with the same --out to finish it)")
    try:
        results = json.loads(results_file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{str(results_file)!r} is not valid JSON: {err}") from None
    kind = _kind(results) if isinstance(results, dict) else None
    if kind is None:
        raise ValueError(f"{str(results_file)!r} is not the results of a graphlottery run")
    config_file = path / "config.yaml"
    config = (yaml.safe_load(config_file.read_text()) or {}) if config_file.is_file() else {}
    return Run(path, kind, results, config)


def summary_table(run: Run) -> str:
    """The table the run's command printed when it finished."""
    if run.kind == "glt":
        from graphlottery.lottery.glt import format_table
    elif run.kind == "imp":
        from graphlottery.lottery.imp import format_table
    elif run.kind == "coldbrew":
        from graphlottery.coldbrew.run import format_table
    else:
        from graphlottery.contrastive.run import format_table
    return format_table(run.results)


def _seeds(seeds: list[int]) -> str:
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}-{seeds[-1]}"
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def describe(run: Run) -> dict[str, str]:
    """What a plot must state about a run: dataset, model, metric, seeds and epochs."""
    r = run.results
    return {"dataset": r["dataset"], "model": r["model"].upper(), "metric": METRIC_NAMES.get(run.metric, run.metric),
            "seeds": _seeds(r["seeds"]), "epochs": run.epochs}


def _curves(runs: list[Run]) -> None:
    for run in runs:
        if run.kind not in CURVES:
            raise ValueError(f"{str(run.path)!r} is a {run.kind} run, which has no pruning curve; "
                             f"compare takes glt and imp runs (`graphlottery summary` prints any run)")
    metrics = sorted({run.metric for run in runs})
    if len(metrics) > 1:
        raise ValueError(f"the runs measure different metrics ({', '.join(metrics)}); compare runs of one metric")


def _baselines(entry: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """A round's random baselines: GLT's ``random``, IMP's ``uniform`` / ``erk``; (mean, std)."""
    found = {}
    for key, value in entry.items():
        if key.startswith("random_") and not key.endswith("_std"):
            label = "random" if key == "random_test" else key.removeprefix("random_")
            found[label] = (value, entry.get(f"{key}_std", 0.0))
    return found


def _sparsity(entry: dict[str, Any], key: str) -> float | None:
    return entry.get(key, entry.get("sparsity") if key == "weight_sparsity" else None)


def compare_table(runs: list[Run]) -> str:
    """One table of every round of every run: sparsities, test mean and std over seeds, baselines."""
    _curves(runs)
    labels = list(dict.fromkeys(label for run in runs for r in run.results["rounds"] for label in _baselines(r)))
    lines = [f"[{i}] {run.path}: " + ", ".join(describe(run).values()) for i, run in enumerate(runs, 1)]
    lines.append(f"{'run':>3} {'round':>5} {'graph sp.':>9} {'weight sp.':>10} {'test':>7} {'± std':>7} "
                 + " ".join(f"{label:>8}" for label in labels))
    for i, run in enumerate(runs, 1):
        for r in run.results["rounds"]:
            graph = _sparsity(r, "graph_sparsity")
            base = _baselines(r)
            cells = " ".join(f"{base[label][0]:>8.4f}" if label in base else f"{'-':>8}" for label in labels)
            lines.append(f"{i:>3} {r['round']:>5} {'-' if graph is None else f'{graph:.4f}':>9} "
                         f"{_sparsity(r, 'weight_sparsity'):>10.4f} {r['test']:>7.4f} {r['test_std']:>7.4f} {cells}")
    return "\n".join(lines)


def plot_compare(runs: list[Run], path: str | os.PathLike, x: str = "weight", random: bool = False) -> Path:
    """Test metric (mean over seeds, band ± one standard deviation) against ``x`` (``weight`` or
    ``graph``) sparsity, one curve per run (and its random baselines with ``random``), in one PNG.
    The title states what the runs share, each legend entry what sets its run apart."""
    from graphlottery.files import save_figure, subplots

    _curves(runs)
    key = f"{x}_sparsity"
    for run in runs:
        if _sparsity(run.results["rounds"][0], key) is None:
            raise ValueError(f"{str(run.path)!r} ({run.kind}) has no {x} sparsity; use --x weight")
    described = [describe(run) for run in runs]
    shared = {k: v for k, v in described[0].items() if all(d[k] == v for d in described)}
    fig, ax = subplots(figsize=(7, 4.5))
    for run, info in zip(runs, described):
        rounds = run.results["rounds"]
        xs = [100 * _sparsity(r, key) for r in rounds]
        mean = [100 * r["test"] for r in rounds]
        std = [100 * r["test_std"] for r in rounds]
        own = [v for k, v in info.items() if k not in shared]
        label = run.path.name + (f" ({', '.join(own)})" if own else "")
        line, = ax.plot(xs, mean, marker="o", ms=3, label=label)
        ax.fill_between(xs, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                        color=line.get_color(), alpha=0.2, lw=0)
        if random:
            for style, name in zip(("--", ":", "-."), sorted({b for r in rounds for b in _baselines(r)})):
                pts = [(100 * _sparsity(r, key), 100 * _baselines(r)[name][0]) for r in rounds if name in _baselines(r)]
                ax.plot(*zip(*pts), ls=style, color=line.get_color(), lw=1, label=f"{run.path.name}: {name}")
    metric = METRIC_NAMES.get(runs[0].metric, runs[0].metric)
    ax.set_xlabel(f"{x} sparsity (%)")
    ax.set_ylabel(f"test {metric} (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    title = ", ".join(v for k, v in shared.items() if k != "metric")
    ax.set_title(f"test {metric}" + (f": {title}" if title else "") + "\nmean over seeds, band ± 1 std", fontsize=9)
    out = Path(path)
    if out.parent != Path():
        out.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, out)
