"""Ticket watermarks on a Cora GCN ticket (UGS) and a digits ResNet ticket (IMP).

For each ticket: embed a signature (weights, and the graph mask for the GCN), measure the
accuracy cost (the ticket and the watermarked ticket both retrained from their rewind weights
with the same seeds), the false-positive rate of the owner's key over 1,000 random masks of
the same per-layer sparsity, 1,000 wrong keys on the watermarked ticket, the ticket before
embedding and (full run) tickets found with other seeds; then attack the trained watermarked
ticket: fine-tune, magnitude-prune 0–50% of its remaining weights, fine-tune again, and verify.
Also: random re-growth, a random replacement of the largest layer's mask, random pruning of
the graph mask, a second (forged) signature, and the trigger-set (black-box) check.

    python benchmarks/watermark.py [--quick] [--out runs/watermark]

Writes ``results.json`` and ``attacks.png`` to ``--out``; the last line printed is JSON with
``acc_drop_gnn``, ``acc_drop_cnn`` (points), ``false_positive_rate`` and
``verified_after_attacks`` (fractions).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from graphlottery import GCN, UGS, load_planetoid
from graphlottery.data.digits import load_digits
from graphlottery.files import save_figure, subplots, write_json
from graphlottery.lottery import Ticket
from graphlottery.lottery.imp import IMPConfig, accuracy, build_model, run_imp, train
from graphlottery.masks import WeightMasks
from graphlottery.tasks import NodeClassification
from graphlottery.watermark import (
    TriggerTask,
    WatermarkKey,
    add_trigger_nodes,
    embed_watermark,
    fine_tune,
    input_triggers,
    prune_further,
    randomise,
    regrow_random,
    verify_triggers,
    verify_watermark,
)

ROOT = Path(__file__).resolve().parents[1]
OWNER, ATTACKER = "GL owner", "thief"
LEVELS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


class GCNCase:
    """A Cora GCN-512 graph lottery ticket (UGS, original hyper-parameters)."""

    name = "gnn"

    def __init__(self, quick: bool):
        self.data = load_planetoid("Cora")
        torch.manual_seed(0)
        epochs = (40, 80) if quick else (200, 200)
        self.ft_epochs = 30 if quick else 100
        model = GCN(self.data.num_features, 512, 2, 7)
        self.ugs = UGS(model, self.data, lr=0.008, weight_decay=8e-5, s1=1e-2, s2=1e-2, mask_epochs=epochs[0],
                       retrain_epochs=epochs[1])
        for _ in range(2 if quick else 4):
            self.ugs.step()
        self.ticket = self.ugs.ticket()
        self.model, self.masks = self.ugs.model, self.ugs.masks
        self.task = NodeClassification(self.data)

    def embed(self, ticket, payload: str, seed: int):
        return embed_watermark(ticket, payload, seed, graph=self.data)

    def verify(self, suspect, key, edge_mask=None):
        return verify_watermark(suspect, key, graph=self.data, edge_mask=edge_mask)

    def retrain(self, ticket, phase: int) -> float:
        self.ugs.load_ticket(ticket)
        return self.ugs.retrain(phase=10 + phase)["test"]

    def edge_index(self):
        return self.ugs.graph.kept_edges()[0]

    def loss(self, model):
        return self.task.loss(model(self.data.x, self.edge_index()))

    def fine_tune(self, epochs: int, seed: int) -> None:
        torch.manual_seed(seed)
        fine_tune(self.model, self.loss, epochs, lr=0.008, weight_decay=8e-5)

    def test(self) -> float:
        self.model.eval()
        with torch.no_grad():
            return self.task.evaluate(self.model(self.data.x, self.edge_index()))[1]

    def weights(self) -> dict:
        return {n: self.model.get_parameter(n).detach() for n in self.masks.names}

    def largest(self) -> str:
        return max(self.masks.names, key=lambda n: self.masks.hard(n).numel())


class ResNetCase:
    """A digits ResNet ticket from iterative magnitude pruning with rewinding."""

    name = "cnn"

    def __init__(self, quick: bool, out: Path):
        rounds = 3 if quick else 5
        self.config = IMPConfig(dataset="digits", rounds=rounds, epochs=15 if quick else 40, baselines=[], seeds=[0])
        self.ft_epochs = 3 if quick else 10
        run_imp(self.config, out / "imp", progress=False)
        self.ticket = Ticket.load(out / "imp" / "seed_0" / f"round_{rounds:02d}.pt")
        self.trained = torch.load(out / "imp" / "seed_0" / f"trained_{rounds:02d}.pt", weights_only=True)
        self.data = load_digits(0)
        torch.manual_seed(0)
        self.model = build_model(self.config)
        self.masks = WeightMasks(self.model, list(self.ticket.weight_masks)).attach()

    def embed(self, ticket, payload: str, seed: int):
        return embed_watermark(ticket, payload, seed, scores=self.trained)

    def verify(self, suspect, key, edge_mask=None):
        return verify_watermark(suspect, key)

    def retrain(self, ticket, phase: int) -> float:
        ticket.apply(self.model, self.masks)
        torch.manual_seed(1000 + phase)
        return train(self.model, self.data, self.config)[0]["test"]

    def loss(self, model):
        batch = self.data["train"][torch.randint(0, self.data["train"].numel(), (64,))]
        return F.cross_entropy(model(self.data["x"][batch]), self.data["y"][batch])

    def fine_tune(self, epochs: int, seed: int) -> None:
        torch.manual_seed(seed)
        steps = epochs * (self.data["train"].numel() // 64)
        fine_tune(self.model, self.loss, steps, lr=1e-3, weight_decay=1e-4)

    def test(self) -> float:
        return accuracy(self.model, self.data["x"][self.data["test"]], self.data["y"][self.data["test"]])

    def weights(self) -> dict:
        return {n: self.model.get_parameter(n).detach() for n in self.masks.names}

    def largest(self) -> str:
        return max(self.masks.names, key=lambda n: self.masks.hard(n).numel())


def accuracy_cost(case, ticket, marked, repeats: int) -> dict:
    before = [case.retrain(ticket, p) for p in range(repeats)]
    after = [case.retrain(marked, p) for p in range(repeats)]
    return {"ticket": statistics.fmean(before), "watermarked": statistics.fmean(after),
            "drop_points": 100 * (statistics.fmean(before) - statistics.fmean(after)),
            "per_seed": {"ticket": before, "watermarked": after}}


def false_positives(case, ticket, marked, key: WatermarkKey, draws: int, others: list) -> dict:
    """Owner's key on random masks of the same per-layer counts, wrong keys on the watermarked
    ticket, the ticket before embedding and independently found tickets."""
    generator = torch.Generator().manual_seed(12345)
    results = {"random_masks": 0, "wrong_keys": 0, "unmarked_and_independent": 0}
    worst = -1e9
    for i in tqdm(range(draws), desc=f"{case.name} false positives", leave=False, disable=None):
        masks = randomise(marked.weight_masks, list(marked.weight_masks), generator)
        edges = None
        if marked.edge_mask is not None:
            keep = case.ugs.graph
            keep.set_edge_mask(marked.edge_mask)
            keep.set_keep(randomise({"g": keep.keep.cpu()}, ["g"], generator)["g"])
            edges = keep.edge_mask().cpu()
        v = case.verify(replace(marked, weight_masks=masks, edge_mask=edges), key)
        results["random_masks"] += v.verified
        wrong = replace(key, seed=key.seed + 1 + i)
        w = case.verify(marked, wrong)
        results["wrong_keys"] += w.verified
        worst = max(worst, -v.log10_p_value, -w.log10_p_value)
    checks = [case.verify(t, key) for t in [ticket, *others]]
    results["unmarked_and_independent"] = sum(v.verified for v in checks)
    total = 2 * draws + len(checks)
    return {**results, "trials": total, "rate": sum(results.values()) / total,
            "largest_minus_log10_p": worst, "unmarked_log10_p": [c.log10_p_value for c in checks]}


def attack_curve(case, marked, key: WatermarkKey, trials: int) -> list[dict]:
    """Fine-tune, prune ``level`` of the remaining weights by magnitude, fine-tune again, verify."""
    case.retrain(marked, 0)  # the owner's trained, watermarked ticket: what the attacker steals
    stolen = {k: v.clone() for k, v in case.model.state_dict().items()}
    curve = []
    for level in LEVELS if trials > 2 else [0.0, 0.5]:
        verified, accs, log_ps = 0, [], []
        for t in range(trials):
            case.model.load_state_dict(stolen)
            case.masks.set_hard(marked.weight_masks)
            case.fine_tune(case.ft_epochs, seed=100 + t)
            if level:
                case.masks.set_hard(prune_further(case.masks.hard_dict(), level, case.weights()))
                case.fine_tune(case.ft_epochs // 2, seed=200 + t)
            v = case.verify(case.masks, key, edge_mask=marked.edge_mask)
            verified += v.verified
            accs.append(case.test())
            log_ps.append(v.log10_p_value)
        curve.append({"extra_pruning": level, "verified": verified / trials, "trials": trials,
                      "attacker_accuracy": statistics.fmean(accs), "max_log10_p": max(log_ps)})
    return curve


def other_attacks(case, marked, key: WatermarkKey) -> dict:
    """Mask-level attacks on the watermarked ticket (no retraining needed to read masks)."""
    generator = torch.Generator().manual_seed(7)
    out = {}
    for fraction in (0.1, 0.3, 0.5):
        regrown = regrow_random(marked.weight_masks, fraction, generator)
        out[f"regrow_{fraction}"] = case.verify(replace(marked, weight_masks=regrown), key).log10_p_value
    layer = case.largest()
    replaced = randomise(marked.weight_masks, [layer], generator)
    out[f"random_{layer}"] = case.verify(replace(marked, weight_masks=replaced), key).log10_p_value
    forged, thief_key = case.embed(marked, ATTACKER, seed=999)
    out["second_signature_owner_in_forged"] = case.verify(forged, key).log10_p_value
    out["second_signature_thief_in_original"] = case.verify(marked, thief_key).log10_p_value
    if marked.edge_mask is not None:
        graph = case.ugs.graph
        graph.set_edge_mask(marked.edge_mask)
        keep = prune_further({"g": graph.keep.cpu()}, 0.3, generator=generator)["g"]
        graph.set_keep(keep)
        out["graph_random_prune_0.3"] = case.verify(marked, key, edge_mask=graph.edge_mask().cpu()).log10_p_value
    return {k: round(v, 2) for k, v in out.items()}


def trigger_check(case: GCNCase, marked) -> dict:
    """Black-box: the owner fine-tunes the trained watermarked ticket on 50 keyed trigger nodes
    (isolated, noise features, random labels); test it, a copy fine-tuned on clean data and
    pruned 30% further, and an unrelated model (the ticket trained without triggers)."""
    triggers = input_triggers(case.data.x, 50, 7, seed=4242)
    extended, nodes = add_trigger_nodes(case.data, triggers)
    task = TriggerTask(NodeClassification(extended), nodes, triggers)
    edges = case.edge_index()

    def check():
        case.model.eval()
        with torch.no_grad():
            return verify_triggers(case.model(extended.x, edges)[nodes], triggers)

    case.retrain(marked, 0)
    unrelated, before = check(), case.test()
    fine_tune(case.model, lambda m: task.loss(m(extended.x, edges)), 50, lr=0.008, weight_decay=8e-5)
    owner, after = check(), case.test()
    case.fine_tune(case.ft_epochs, seed=5)
    case.masks.set_hard(prune_further(case.masks.hard_dict(), 0.3, case.weights()))
    attacked = check()
    checks = (("owner", owner), ("attacked", attacked), ("unrelated", unrelated))
    return {"test_before_triggers": before, "test_with_triggers": after, "attacker_test": case.test(),
            **{f"{name}_trigger_accuracy": v.accuracy for name, v in checks},
            **{f"{name}_log10_p": round(v.log10_p_value, 2) for name, v in checks}}


def run_case(case, quick: bool, others: list) -> dict:
    start = time.perf_counter()
    marked, key = case.embed(case.ticket, OWNER, seed=2026)
    own = case.verify(marked, key)
    cost = accuracy_cost(case, case.ticket, marked, 2 if quick else 5)
    fpr = false_positives(case, case.ticket, marked, key, 100 if quick else 1000, others)
    curve = attack_curve(case, marked, key, 2 if quick else 10)
    return {"carriers": {c.name: c.pairs for c in key.carriers}, "own_log10_p": own.log10_p_value,
            "payload": own.payload, "accuracy": cost, "false_positives": fpr, "attack_curve": curve,
            "other_attacks": other_attacks(case, marked, key), "seconds": time.perf_counter() - start}


def independent_tickets(case: GCNCase, seeds: list[int]) -> list:
    """GCN tickets found with other seeds (same hyper-parameters and rounds)."""
    tickets = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = GCN(case.data.num_features, 512, 2, 7)
        ugs = UGS(model, case.data, lr=0.008, weight_decay=8e-5, mask_epochs=200, retrain_epochs=200, seed=seed)
        for _ in range(4):
            ugs.step()
        tickets.append(ugs.ticket())
    return tickets


def plot(results: dict, path: Path) -> None:
    fig, (ax1, ax2) = subplots(1, 2, figsize=(9, 3.6))
    for name, res in results.items():
        xs = [100 * c["extra_pruning"] for c in res["attack_curve"]]
        ax1.plot(xs, [100 * c["verified"] for c in res["attack_curve"]], marker="o", label=name)
        ax2.plot(xs, [100 * c["attacker_accuracy"] for c in res["attack_curve"]], marker="o", label=name)
    ax1.set_xlabel("extra pruning after fine-tuning (%)")
    ax1.set_ylabel("signature verified (% of trials)")
    ax1.set_ylim(0, 105)
    ax2.set_xlabel("extra pruning after fine-tuning (%)")
    ax2.set_ylabel("attacker's test accuracy (%)")
    ax1.legend()
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller tickets, fewer draws and trials (under 2 minutes)")
    ap.add_argument("--out", default=str(ROOT / "runs" / "watermark"))
    args = ap.parse_args()
    out = Path(args.out) / ("quick" if args.quick else "full")
    gcn = GCNCase(args.quick)
    others = [] if args.quick else independent_tickets(gcn, [1, 2, 3])
    results = {"gnn": run_case(gcn, args.quick, others)}
    results["gnn"]["trigger_set"] = trigger_check(gcn, embed_watermark(gcn.ticket, OWNER, 2026, graph=gcn.data)[0])
    results["cnn"] = run_case(ResNetCase(args.quick, out), args.quick, [])
    write_json(out / "results.json", results)
    plot(results, out / "attacks.png")
    trials = [c for r in results.values() for c in r["attack_curve"]]
    fp = [r["false_positives"] for r in results.values()]
    print(json.dumps({
        "benchmark": "watermark", "quick": args.quick,
        "acc_drop_gnn": round(results["gnn"]["accuracy"]["drop_points"], 2),
        "acc_drop_cnn": round(results["cnn"]["accuracy"]["drop_points"], 2),
        "false_positive_rate": sum(f["rate"] * f["trials"] for f in fp) / sum(f["trials"] for f in fp),
        "verified_after_attacks": sum(c["verified"] * c["trials"] for c in trials) / sum(c["trials"] for c in trials),
    }), flush=True)


if __name__ == "__main__":
    main()
