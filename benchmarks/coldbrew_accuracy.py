"""Cold Brew accuracy per node set and FCR, over several seeds, next to the paper's numbers.

For each config, runs (or resumes) the Cold Brew experiment into ``--out/<config name>`` and
prints one JSON line: accuracy per node set and model (means over seeds), the isolated-node gaps
(Cold Brew - GCN, Cold Brew - MLP) with the standard error of their per-seed (paired)
differences, the FCR, and the paper's values beside them.

    python benchmarks/coldbrew_accuracy.py --configs configs/coldbrew/cora.yaml --seeds 0 1 2 3 4
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from graphlottery.coldbrew import ColdBrewConfig, run_coldbrew
from graphlottery.runtime import keep_freed_memory, reexec_with_huge_pages

ROOT = Path(__file__).resolve().parents[1]
# Cold Brew paper (Zheng et al., ICLR 2022), Tables 2 and 3: isolated-node accuracy and FCR (%)
PAPER = {
    "cora": {"isolated": {"gcn": 58.02, "mlp": 68.40, "coldbrew": 69.62}, "fcr": 32.86},
    "citeseer": {"isolated": {"gcn": 47.09, "mlp": 53.26, "coldbrew": 53.17}, "fcr": 63.39},
    "chameleon": {"isolated": {"gcn": 57.28, "mlp": 60.76, "coldbrew": 62.28}, "fcr": 73.61},
    "pubmed": {"isolated": {"gcn": 71.50, "mlp": 65.84, "coldbrew": 72.33}, "fcr": 76.91},
}


def paired_gap(results: dict, baseline: str) -> dict:
    """Isolated-node Cold Brew minus ``baseline`` per seed (points): mean, standard error, range."""
    gaps = [100 * (r["splits"]["isolated"]["coldbrew"] - r["splits"]["isolated"][baseline])
            for r in results["per_seed"]]
    error = statistics.stdev(gaps) / len(gaps) ** 0.5 if len(gaps) > 1 else float("nan")
    return {"mean": round(statistics.fmean(gaps), 2), "standard_error": round(error, 2),
            "min": round(min(gaps), 2), "max": round(max(gaps), 2)}


def summarise(results: dict) -> dict:
    pct = {name: {m: round(100 * v, 2) for m, v in models.items()} for name, models in results["splits"].items()}
    iso = pct["isolated"]
    return {
        "benchmark": "coldbrew_accuracy",
        "dataset": results["dataset"],
        "seeds": results["seeds"],
        "accuracy_pct": pct,
        "isolated_coldbrew_minus_gcn": round(iso["coldbrew"] - iso["gcn"], 2),
        "isolated_coldbrew_minus_mlp": round(iso["coldbrew"] - iso["mlp"], 2),
        "isolated_paired_gaps": {m: paired_gap(results, m) for m in ("gcn", "mlp")},
        "fcr_pct": round(100 * results["fcr"], 2),
        "fcr_inputs_pct": {m: round(100 * v, 2) for m, v in results["fcr_inputs"].items()},
        "paper": PAPER.get(results["dataset"].lower()),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", nargs="+", default=[str(ROOT / f"configs/coldbrew/{d}.yaml")
                                                     for d in ("cora", "citeseer", "chameleon")])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", default=str(ROOT / "runs" / "coldbrew"))
    args = ap.parse_args()
    for path in args.configs:
        config = ColdBrewConfig.from_yaml(path, seeds=args.seeds, device=args.device)
        results = run_coldbrew(config, Path(args.out) / Path(path).stem, progress=False)
        print(json.dumps(summarise(results)), flush=True)


if __name__ == "__main__":
    reexec_with_huge_pages()
    keep_freed_memory()
    main()
