"""Device check, for a machine with a CUDA GPU: the tests that run on every device (``-k cuda``),
then one GLT round of the Cora GCN from the same seed on CUDA and on CPU, compared.

    GRAPHLOTTERY_DATA=/path/to/data python benchmarks/device_check.py [--device cuda:0] [--epochs 50]

Prints one JSON line: the CUDA tests' result, each device's round (sparsities, validation and test
accuracy, seconds) and how far apart they are (accuracy difference, share of equal mask entries).
Sparsities are exact counts and must agree; CUDA's atomic additions change scores in their last
bits, so accuracies must agree to ``--tolerance`` and masks may differ in a few near-tied entries.
Exits 0 when everything agrees, 1 when something does not, 2 when there is no CUDA device.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cuda_tests() -> dict:
    """The test suite's CUDA-parametrised tests (``device`` fixture ids end in ``cuda``)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-k", "cuda", "-p", "no:cacheprovider", "tests"],
                          cwd=REPO, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    return {"returncode": done.returncode, "summary": lines[-1] if lines else done.stderr.strip()[-300:]}


def one_round(device: str, epochs: int, out: Path) -> tuple[dict, object]:
    from graphlottery.bundled import resolve_config
    from graphlottery.config import GLTConfig
    from graphlottery.lottery.glt import run_glt
    from graphlottery.lottery.ticket import Ticket

    config = GLTConfig.from_yaml(resolve_config("cora_gcn", "glt"), rounds=1, seeds=[0], device=device,
                                 mask_epochs=epochs, retrain_epochs=epochs, random_baseline=False)
    rounds = run_glt(config, out, progress=False)["rounds"]
    keys = ("graph_sparsity", "weight_sparsity", "val", "test", "seconds")
    return {f"round{r['round']}_{k}": r[k] for r in rounds for k in keys}, Ticket.load(out / "seed_0" / "round_01.pt")


def agreement(a: dict, b: dict) -> float:
    """Share of equal entries over every mask in ``a`` and ``b``."""
    same = sum(int((a[k].cpu() == b[k].cpu()).sum()) for k in a)
    return same / sum(a[k].numel() for k in a)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="the CUDA device to check (default cuda)")
    parser.add_argument("--epochs", type=int, default=50, help="mask-search and retraining epochs (default 50)")
    parser.add_argument("--tolerance", type=float, default=0.01, help="largest accuracy difference (default 0.01)")
    parser.add_argument("--no-tests", action="store_true", help="skip the CUDA tests")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print(f"device_check: no CUDA device: torch {torch.__version__} (CUDA build: {torch.version.cuda}) sees "
              "none; run this on a machine with an NVIDIA GPU and a CUDA build of torch", file=sys.stderr)
        return 2
    if not args.device.startswith("cuda"):
        print(f"device_check: {args.device!r} is not a CUDA device", file=sys.stderr)
        return 2
    try:
        index = torch.device(args.device).index or 0
    except RuntimeError:
        index = -1
    if not 0 <= index < torch.cuda.device_count():
        print(f"device_check: {args.device!r} is not one of the {torch.cuda.device_count()} CUDA devices",
              file=sys.stderr)
        return 2
    report: dict = {"device": torch.cuda.get_device_name(index), "torch": torch.__version__, "epochs": args.epochs}
    if not args.no_tests:
        report["cuda_tests"] = cuda_tests()
    with tempfile.TemporaryDirectory() as tmp:
        cpu, cpu_ticket = one_round("cpu", args.epochs, Path(tmp) / "cpu")
        gpu, gpu_ticket = one_round(args.device, args.epochs, Path(tmp) / "cuda")
    report["cpu"], report["cuda"] = cpu, gpu
    report["largest_accuracy_difference"] = max(abs(cpu[k] - gpu[k]) for k in cpu if k.endswith(("_val", "_test")))
    report["weight_mask_agreement"] = agreement(cpu_ticket.weight_masks, gpu_ticket.weight_masks)
    report["edge_mask_agreement"] = agreement({"edges": cpu_ticket.edge_mask}, {"edges": gpu_ticket.edge_mask})
    sparsities = all(cpu[k] == gpu[k] for k in cpu if k.endswith("sparsity"))
    tests = args.no_tests or report["cuda_tests"]["returncode"] == 0
    report["ok"] = bool(sparsities and tests and report["largest_accuracy_difference"] <= args.tolerance)
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
