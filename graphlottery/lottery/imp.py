"""Iterative magnitude pruning (IMP) with rewinding for CNNs and transformers, on the same weight
masks and tickets as UGS, with random-pruning baselines at the same sparsity.

Per seed: train the dense model (remembering the weights of epoch ``rewind_epoch``); then each
round prunes ``prune`` of the remaining weights with the lowest trained magnitude (globally or
per layer, exact counts), rewinds to the epoch-``rewind_epoch`` weights and retrains; the test
accuracy at the best validation epoch is recorded. Each baseline draws a random mask at the
round's sparsity with a layer-density scheme (``uniform``, ``er``, ``erk``) and trains it from
the initialisation.

Layout of ``out``::

    config.yaml                 the resolved config
    seed_<s>/round_<k>.pt       the ticket after round k (masks + rewind weights)
    seed_<s>/trained_<k>.pt     the trained weights of round k (the next round's magnitudes)
    seed_<s>/history.json       one record per finished round (a rerun resumes after it)
    results.json, curve.png     means over seeds, per-seed values beside them
"""
from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from graphlottery.config import Config, ConfigError
from graphlottery.data.digits import load_digits
from graphlottery.files import read_json, run_lock, save_figure, subplots, write_json
from graphlottery.lottery.ticket import Ticket, load_weights, save_weights
from graphlottery.masks import (
    SCHEMES,
    EarlyBird,
    WeightMasks,
    maskable_weights,
    prune_lowest,
    prune_lowest_layerwise,
    random_masks,
    sparsity,
)
from graphlottery.nn.transformer import VisionTransformer
from graphlottery.nn.vision import ResNetCNN

PRUNABLE = (nn.Linear, nn.Conv2d)
RUN_ONLY = {"rounds", "seeds", "device"}  # may change when resuming


@dataclass
class IMPConfig(Config):
    """IMP on an image classifier. ``scope``: ``global`` (one magnitude threshold over all
    layers) or ``layerwise``; ``rewind_epoch``: 0 rewinds to the initialisation, k > 0 to the
    weights after k epochs of dense training; ``rewind: false`` fine-tunes the pruned trained
    weights instead (the ticket then records those as its starting weights); ``baselines``:
    random-pruning schemes. ``kd``: KD tickets, each round retrained on the dense model's soft
    labels at temperature ``kd_temperature``, mixed with the hard labels as
    ``kd_alpha · KD + (1 - kd_alpha) · CE``."""

    dataset: str
    model: str = "resnet"
    width: int = 16
    blocks: int = 1
    prune: float = 0.2
    rounds: int = 8
    scope: str = "global"
    rewind_epoch: int = 0
    rewind: bool = True
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    baselines: list[str] = field(default_factory=lambda: ["uniform", "erk"])
    kd: bool = False
    kd_temperature: float = 5.0
    kd_alpha: float = 0.9
    seeds: list[int] = field(default_factory=lambda: [0])
    device: str = "cpu"

    def __post_init__(self) -> None:
        self._check(("width", "blocks", "epochs", "batch_size"),
                    {"model": ("resnet", "vit"), "scope": ("global", "layerwise")}, datasets={"digits": "digits"})
        if not 0.0 < self.prune < 1.0:
            raise ConfigError(f"prune must be in (0, 1), got {self.prune}")
        if not 0.0 <= self.kd_alpha <= 1.0 or self.kd_temperature <= 0:
            raise ConfigError(f"need kd_alpha in [0, 1] and kd_temperature > 0, got {self.kd_alpha}, "
                              f"{self.kd_temperature}")
        if self.rounds < 0:
            raise ConfigError(f"rounds must be >= 0, got {self.rounds}")
        if not 0 <= self.rewind_epoch < self.epochs:
            raise ConfigError(f"rewind_epoch must be in [0, epochs), got {self.rewind_epoch}")
        unknown = sorted(set(self.baselines) - set(SCHEMES))
        if unknown:
            raise ConfigError(f"baselines must be among {list(SCHEMES)}, got {unknown}")


def build_model(config: IMPConfig) -> nn.Module:
    """The config's classifier for 8×8 digits: ``resnet`` (:class:`ResNetCNN`, ``width`` channels,
    ``blocks`` per stage) or ``vit`` (:class:`VisionTransformer`, dimension ``width``, ``blocks``
    encoder blocks, 4 heads, FFN ``2 · width``)."""
    if config.model == "vit":
        return VisionTransformer(num_classes=10, dim=config.width, depth=config.blocks, heads=4,
                                 hidden=2 * config.width)
    return ResNetCNN(num_classes=10, width=config.width, blocks=config.blocks)


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(-1) == y).float().mean())


def distillation_loss(logits: Tensor, labels: Tensor, teacher: Tensor, temperature: float, alpha: float) -> Tensor:
    r""":math:`\alpha T^2 \mathrm{KL}(p_T(t) \| p_T(s)) + (1 - \alpha) \mathrm{CE}(s, y)` with
    :math:`p_T = \mathrm{softmax}(\cdot / T)` (Hinton et al.); student ``s`` and teacher ``t`` logits ``[B, C]``."""
    soft = F.kl_div(F.log_softmax(logits / temperature, -1), F.log_softmax(teacher / temperature, -1),
                    log_target=True, reduction="batchmean")
    return alpha * temperature**2 * soft + (1.0 - alpha) * F.cross_entropy(logits, labels)


def train(model: nn.Module, data: dict[str, Tensor], config: IMPConfig, keep_epoch: int | None = None,
          stop: Callable[[int], bool] | None = None, teacher: Tensor | None = None
          ) -> tuple[dict[str, float], dict[str, Tensor] | None]:
    """Adam on the training images for ``config.epochs`` (or until ``stop(epoch)`` is true),
    on the labels or, given a ``teacher``'s logits for every image, with :func:`distillation_loss`;
    returns the validation and test accuracy at the best validation epoch, and the weights
    after ``keep_epoch`` epochs."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    x, y, train_idx = data["x"], data["y"], data["train"]
    best = {"val": -1.0, "test": 0.0, "best_epoch": 0}
    kept = {k: v.detach().clone() for k, v in model.state_dict().items()} if keep_epoch == 0 else None
    for epoch in range(1, config.epochs + 1):
        model.train()
        for batch in train_idx[torch.randperm(train_idx.numel())].split(config.batch_size):
            optimizer.zero_grad()
            logits = model(x[batch])
            if teacher is None:
                loss = F.cross_entropy(logits, y[batch])
            else:
                loss = distillation_loss(logits, y[batch], teacher[batch], config.kd_temperature, config.kd_alpha)
            loss.backward()
            optimizer.step()
        val = accuracy(model, x[data["val"]], y[data["val"]])
        if val > best["val"]:
            best = {"val": val, "test": accuracy(model, x[data["test"]], y[data["test"]]), "best_epoch": epoch}
        if epoch == keep_epoch:
            kept = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if stop is not None and stop(epoch):
            break
    return best, kept


def early_bird_ticket(config: IMPConfig, seed: int, target: float, window: int = 5, threshold: float = 0.1
                      ) -> dict[str, Any]:
    """Draw an early-bird ticket (You et al., ICLR 2020) at sparsity ``target`` and train it.

    The dense model (the same initialisation as :func:`run_seed`'s) trains until the magnitude
    mask at ``target`` (global or per layer, by ``config.scope``), computed after every epoch,
    has stayed within ``threshold`` (normalised Hamming distance) over the last ``window`` epochs;
    that mask is then trained from the weights of epoch ``rewind_epoch`` (dense training goes on
    to that epoch if the mask settles earlier) or, with ``rewind: false``, from the weights it was
    drawn at. Returns the epoch it was drawn at (``None``: never settled, the mask of the last
    epoch is used), the dense epochs trained (``dense_epochs``), the distances per epoch, and the
    ticket's accuracies. KD needs a fully trained dense teacher, which an early-bird ticket
    exists to avoid, so ``kd: true`` is refused.
    """
    if config.kd:
        raise ConfigError("early-bird tickets are drawn before the dense model finishes training, so there is no "
                          "trained teacher for kd: true (KD tickets: run_imp)")
    device = torch.device(config.device)
    data = {k: v.to(device) for k, v in load_digits(seed).items()}
    torch.manual_seed(seed)
    model = build_model(config).to(device)
    names = maskable_weights(model, PRUNABLE)
    chooser = prune_lowest if config.scope == "global" else prune_lowest_layerwise
    bird = EarlyBird(window, threshold)
    drawn: dict[str, Any] = {"epoch": None, "masks": None, "stopped": config.epochs}
    until = config.rewind_epoch if config.rewind else 0

    def settled(epoch: int) -> bool:  # after each epoch; once drawn, training goes on to ``until`` only
        if drawn["epoch"] is None:
            weights = [model.get_parameter(name).detach() for name in names]
            drawn["masks"] = chooser(weights, [torch.ones_like(w, dtype=torch.bool) for w in weights], target)
            if bird.update(drawn["masks"]):
                drawn["epoch"] = epoch
        if drawn["epoch"] is not None and epoch >= until:
            drawn["stopped"] = epoch
            return True
        return False

    _phase_seed(seed, 0, 0)
    _, rewind = train(model, data, config, keep_epoch=config.rewind_epoch, stop=settled)
    start = rewind if config.rewind else {k: v.detach().clone() for k, v in model.state_dict().items()}
    masks = WeightMasks(model, names).to(device).set_hard(dict(zip(names, drawn["masks"]))).attach()
    model.load_state_dict(start)
    _phase_seed(seed, 1, 0)
    record, _ = train(model, data, config)
    masks.detach()
    return {"epoch": drawn["epoch"], "dense_epochs": drawn["stopped"], "epochs": config.epochs,
            "distances": bird.distances, "sparsity": sparsity(drawn["masks"]), **record}


def _phase_seed(seed: int, round_: int, phase: int) -> None:
    torch.manual_seed(seed * 100_003 + round_ * 101 + phase)


def run_seed(config: IMPConfig, seed: int, out: Path, progress: bool = True) -> list[dict[str, Any]]:
    """All rounds of one seed, resuming after the last finished round in ``out/seed_<seed>``."""
    seed_dir = out / f"seed_{seed}"
    seed_dir.mkdir(parents=True, exist_ok=True)
    history_path = seed_dir / "history.json"
    history: list[dict[str, Any]] = read_json(history_path, list) if history_path.is_file() else []
    device = torch.device(config.device)
    data = {k: v.to(device) for k, v in load_digits(seed).items()}
    torch.manual_seed(seed)
    model = build_model(config).to(device)
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    names = maskable_weights(model, PRUNABLE)
    shapes = {name: tuple(model.get_parameter(name).shape) for name in names}
    masks = WeightMasks(model, names).to(device).attach()
    if history:
        last = len(history) - 1
        ticket = Ticket.load(seed_dir / f"round_{last:02d}.pt")
        ticket.apply(model, masks)
        rewind = {k: v.to(device) for k, v in ticket.rewind.items()}
        trained = {k: v.to(device) for k, v in load_weights(seed_dir / f"trained_{last:02d}.pt").items()}
        print(f"resuming seed {seed} after round {last}", file=sys.stderr)
    teacher = None
    if config.kd and history:
        dense = {k: v.to(device) for k, v in load_weights(seed_dir / "trained_00.pt").items()}
        teacher = _logits(model, masks, dense, data["x"])
    rounds = tqdm(range(len(history), config.rounds + 1), desc=f"seed {seed}", disable=not progress,
                  initial=len(history), total=config.rounds + 1)
    for r in rounds:
        _phase_seed(seed, r, 0)
        if r == 0:
            record, rewind = train(model, data, config, keep_epoch=config.rewind_epoch)
            if config.kd:
                teacher = _logits(model, masks, model.state_dict(), data["x"])
        else:
            weights = [trained[name] for name in names]
            keep = [masks.hard(name) for name in names]
            chooser = prune_lowest if config.scope == "global" else prune_lowest_layerwise
            masks.set_hard(dict(zip(names, chooser(weights, keep, config.prune))))
            start = rewind if config.rewind else trained
            model.load_state_dict(start)
            record, _ = train(model, data, config, teacher=teacher)
        trained = {k: v.detach().clone() for k, v in model.state_dict().items()}
        record = {"round": r, "sparsity": sparsity([masks.hard(n) for n in names]), **record}
        if r > 0 and config.baselines:
            record["random"] = _baselines(model, masks, shapes, init, data, config, seed, r, record["sparsity"])
        Ticket.capture(model, masks, rewind if r == 0 or config.rewind else start, seed=seed, round=r,
                       config=config.to_dict()).save(
            seed_dir / f"round_{r:02d}.pt")
        save_weights(trained, seed_dir / f"trained_{r:02d}.pt")
        history.append(record)
        write_json(history_path, history)
        rounds.set_postfix(test=f"{record['test']:.4f}", sparsity=f"{record['sparsity']:.3f}")
    masks.detach()
    return history


def _logits(model: nn.Module, masks: WeightMasks, state: dict[str, Tensor], x: Tensor) -> Tensor:
    """Logits for every image of the dense model with weights ``state`` (the KD teacher); the
    model's own weights and masks are left as they were."""
    own, hard = {k: v.detach().clone() for k, v in model.state_dict().items()}, masks.hard_dict()
    masks.set_hard({name: torch.ones_like(mask) for name, mask in hard.items()})
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        logits = model(x)
    model.load_state_dict(own)
    masks.set_hard(hard)
    return logits


def _baselines(model: nn.Module, masks: WeightMasks, shapes: dict[str, tuple[int, ...]], init: dict[str, Tensor],
               data: dict[str, Tensor], config: IMPConfig, seed: int, r: int, target: float) -> dict[str, dict]:
    """Random masks at sparsity ``target`` per scheme, each trained from the initialisation;
    the IMP masks are put back afterwards."""
    imp_masks = masks.hard_dict()
    results = {}
    for phase, scheme in enumerate(config.baselines, start=1):
        _phase_seed(seed, r, phase)
        generator = torch.Generator().manual_seed(seed * 100_003 + r * 101 + phase)
        masks.set_hard(random_masks(shapes, target, scheme, generator=generator))
        model.load_state_dict(init)
        results[scheme] = train(model, data, config)[0]
    masks.set_hard(imp_masks)
    return results


def aggregate(config: IMPConfig, histories: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """Means (and population std) over seeds per round, per-seed records beside them."""
    rounds = []
    for r in range(config.rounds + 1):
        recs = [h[r] for h in histories.values()]
        entry: dict[str, Any] = {"round": r, "sparsity": statistics.fmean(rec["sparsity"] for rec in recs),
                                 "test": statistics.fmean(rec["test"] for rec in recs),
                                 "test_std": statistics.pstdev(rec["test"] for rec in recs)}
        for scheme in config.baselines if r > 0 else ():
            values = [rec["random"][scheme]["test"] for rec in recs]
            entry[f"random_{scheme}"] = statistics.fmean(values)
            entry[f"random_{scheme}_std"] = statistics.pstdev(values)
        entry["per_seed"] = [{"seed": seed, **h[r]} for seed, h in histories.items()]
        rounds.append(entry)
    return {"dataset": config.dataset, "model": config.model, "seeds": list(histories), "rounds": rounds}


def format_table(results: dict[str, Any]) -> str:
    """Round, sparsity, IMP and random-baseline test accuracy."""
    schemes = [k.removeprefix("random_") for k in results["rounds"][-1] if k.startswith("random_")
               and not k.endswith("_std")]
    lines = [f"{results['dataset']} / {results['model']} (test accuracy, mean over seeds {results['seeds']})",
             f"{'round':>5} {'sparsity':>8} {'IMP':>7} " + " ".join(f"{s:>8}" for s in schemes)]
    for r in results["rounds"]:
        cells = " ".join(f"{r[f'random_{s}']:>8.4f}" if f"random_{s}" in r else f"{'-':>8}" for s in schemes)
        lines.append(f"{r['round']:>5} {r['sparsity']:>8.4f} {r['test']:>7.4f} {cells}")
    return "\n".join(lines)


def plot_curve(results: dict[str, Any], path: Path) -> Path:
    """Test accuracy against weight sparsity: IMP and each random baseline."""
    rounds = results["rounds"]
    fig, ax = subplots(figsize=(5.5, 4))
    xs = [100 * r["sparsity"] for r in rounds]
    ax.errorbar(xs, [100 * r["test"] for r in rounds], yerr=[100 * r["test_std"] for r in rounds],
                marker="o", capsize=2, label="IMP")
    for key in [k for k in rounds[-1] if k.startswith("random_") and not k.endswith("_std")]:
        ax.errorbar(xs[1:], [100 * r[key] for r in rounds[1:]], yerr=[100 * r[f"{key}_std"] for r in rounds[1:]],
                    marker="s", capsize=2, label=key.replace("_", " "))
    ax.set_xlabel("weight sparsity (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{results['dataset']} / {results['model']}")
    ax.legend()
    return save_figure(fig, path)


def run_imp(config: IMPConfig, out: str | os.PathLike, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) every seed, then write ``results.json`` and ``curve.png``."""
    out = Path(out)
    with run_lock(out):
        config.check_resume(out, RUN_ONLY)
        histories = {seed: run_seed(config, seed, out, progress) for seed in config.seeds}
        results = aggregate(config, histories)
        write_json(out / "results.json", results)
        plot_curve(results, out / "curve.png")
    return results
