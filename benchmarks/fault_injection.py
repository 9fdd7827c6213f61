"""kill -9 of a short GLT run at random moments, restarting it each time: every restart must
resume, the finished run must equal an uninterrupted one, and no temporary file may be left.

Most kills land inside file writes (the child kills itself with SIGKILL at the N-th atomic write:
half-way through the data, after the data but before the rename, or after the rename but before
the folder's fsync); the rest come from outside after a random delay. Prints one JSON line:
``{"kills": 20, "resumed": 20, "identical": true, "leftover_tmp": 0}``.

    python benchmarks/fault_injection.py [--kills 20] [--seed 0] [--data-root ../shared/data]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

CONFIG = """dataset: Cora
hidden: 32
rounds: 4
mask_epochs: 10
retrain_epochs: 10
seeds: [0, 1]
random_baseline: true
"""
TIMING = {"seconds", "inference_ms"}  # wall-clock fields, different in every run

CHILD = """
import io, os, signal, sys
import graphlottery.files as files
import graphlottery.lottery.ticket as ticket
from graphlottery.config import GLTConfig
from graphlottery.lottery.glt import run_glt

cfg, out, target, phase = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
real_write, real_replace, count = files.atomic_write, os.replace, [0]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def faulty(path, write):
    count[0] += 1
    if count[0] != target:
        return real_write(path, write)
    if phase == "mid":
        def half(f):
            buf = io.BytesIO()
            write(buf)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            f.flush()
            die()
        return real_write(path, half)
    def replace(a, b):
        if phase == "after_rename":
            real_replace(a, b)
        die()
    os.replace = replace
    return real_write(path, write)

files.atomic_write = ticket.atomic_write = faulty
run_glt(GLTConfig.from_yaml(cfg), out, progress=False)
"""


def run_child(cfg: Path, out: Path, target: int = 0, phase: str = "none", delay: float | None = None) -> int:
    """One start of the run; ``target`` > 0: it kills itself at that atomic write; ``delay``: it is
    killed from outside after that many seconds. Returns the exit code (-9 when killed)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRAPHLOTTERY_NO_REEXEC": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(cfg), str(out), str(target), phase], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = child.communicate(timeout=delay)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate()
    if child.returncode not in (0, -signal.SIGKILL):
        print(err[-2000:], file=sys.stderr)
    return child.returncode


def fingerprint(out: Path) -> dict:
    """Everything a run leaves except wall-clock timings: histories, results, every ticket's tensors."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in TIMING}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    found = {"results": strip(json.loads((out / "results.json").read_text()))}
    for path in sorted(out.glob("seed_*/history.json")):
        found[str(path.relative_to(out))] = strip(json.loads(path.read_text()))
    for path in sorted(out.glob("seed_*/round_*.pt")):
        blob = torch.load(path, weights_only=True)
        found[str(path.relative_to(out))] = {k: blob[k] for k in ("rewind", "weight_masks", "edge_mask")}
    return found


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-root", default=os.environ.get("GRAPHLOTTERY_DATA"))
    ap.add_argument("--write-share", type=float, default=0.7, help="share of kills inside file writes")
    args = ap.parse_args()
    if args.data_root:
        os.environ["GRAPHLOTTERY_DATA"] = args.data_root
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("GRAPHLOTTERY_CACHE", str(tmp / "cache"))
        cfg = tmp / "config.yaml"
        cfg.write_text(CONFIG)
        start = time.perf_counter()
        assert run_child(cfg, tmp / "straight") == 0, "the uninterrupted run failed"
        duration = time.perf_counter() - start
        out, kills, failed, moments = tmp / "killed", 0, 0, []
        while kills < args.kills:
            if rng.random() < args.write_share:
                target, phase = rng.randint(1, 5), rng.choice(["mid", "before_rename", "after_rename"])
                code = run_child(cfg, out, target, phase)
                moment = f"write {target} {phase}"
            else:
                delay = rng.uniform(0.2, 1.0) * duration
                code = run_child(cfg, out, delay=delay)
                moment = f"{delay:.1f}s"
            if code == -signal.SIGKILL:
                kills += 1
                moments.append(moment)
            elif code != 0:
                failed += 1
                break
        final = run_child(cfg, out)
        leftover = sum(1 for p in out.rglob("*.tmp"))
        identical = final == 0 and same(fingerprint(tmp / "straight"), fingerprint(out))
    resumed = kills - (1 if failed or final != 0 else 0)  # a start that errors ends the count
    print(json.dumps({"kills": kills, "resumed": resumed, "identical": identical, "leftover_tmp": leftover}))
    print("kill moments: " + "; ".join(moments), file=sys.stderr)


if __name__ == "__main__":
    main()
