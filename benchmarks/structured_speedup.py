"""CPU inference of structurally pruned models against dense ones, measured side by side.

Transformer: a 4-block pre-norm encoder (dim 256, 8 heads, FFN 1024) on 64 sequences of 65 tokens;
half of every layer's heads and FFN neurons removed physically (by their EarlyBERT coefficients)
against the dense encoder, and against unstructured 50% magnitude masks (same MACs saved on
paper, no time saved). Dense and pruned runs alternate; the median of the per-pair ratios is
reported, with the multiply-accumulates of each (unstructured masks: the dense MACs scaled by
each layer's kept fraction, what a sparse kernel could save). One thread by default.

CNN: the digits ResNet at width 64 (2 blocks per stage) on all 1,797 digits images, with half of
every layer's channels removed physically (by BatchNorm scale, residual streams together).

    python benchmarks/structured_speedup.py
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch
from torch import nn

from graphlottery.data.digits import load_digits
from graphlottery.masks import WeightMasks, maskable_weights, prune_lowest
from graphlottery.nn.transformer import TransformerBlock, prune_heads_and_neurons
from graphlottery.nn.vision import ResNetCNN, remove_channels


def seconds(model: nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        model(x)
    return time.perf_counter() - start


def macs(model: nn.Module, x: torch.Tensor, density: dict[str, float] | None = None) -> int:
    """Multiply-accumulates of one forward pass over conv and linear layers (scaled by each
    weight's kept fraction when ``density`` maps weight names to it)."""
    total, handles = [0], []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            per_output = module.weight[0].numel()
            kept = (density or {}).get(f"{name}.weight", 1.0)
            handles.append(module.register_forward_hook(
                lambda m, i, out, k=kept, p=per_output: total.__setitem__(0, total[0] + round(out.numel() * p * k))))
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return total[0]


def masked_copy(model: nn.Module, fraction: float) -> tuple[nn.Module, dict[str, float]]:
    """A copy of ``model`` with global unstructured magnitude masks pruning ``fraction`` of its
    conv and linear weights, and the kept fraction per weight."""
    masked = copy.deepcopy(model)
    names = maskable_weights(masked, (nn.Conv2d, nn.Linear))
    masks = WeightMasks(masked, names)
    kept = prune_lowest([masked.get_parameter(n) for n in names], [masks.hard(n) for n in names], fraction)
    masks.set_hard(dict(zip(names, kept))).attach()
    return masked, {n: float(k.float().mean()) for n, k in zip(names, kept)}


def paired_ratio(dense: nn.Module, pruned: nn.Module, x: torch.Tensor, repeats: int) -> tuple[float, float, float]:
    """Median dense time, median pruned time and median of the per-pair dense / pruned ratios."""
    for _ in range(2):
        seconds(dense, x), seconds(pruned, x)
    pairs = [(seconds(dense, x), seconds(pruned, x)) for _ in range(repeats)]
    return (statistics.median(d for d, _ in pairs), statistics.median(p for _, p in pairs),
            statistics.median(d / p for d, p in pairs))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dense = nn.Sequential(*[TransformerBlock(256, 8, 1024) for _ in range(4)]).eval()
    with torch.no_grad():
        for block in dense:
            block.attn.head_gate.uniform_(0.5, 1.5)
            block.ffn.neuron_gate.uniform_(0.5, 1.5)
    x = torch.randn(64, 65, 256)
    pruned = copy.deepcopy(dense)
    left = prune_heads_and_neurons(pruned, heads=0.5, neurons=0.5, neuron_scope="layer")  # half of every block
    masked, density = masked_copy(dense, 0.5)
    d, p, ratio = paired_ratio(dense, pruned, x, args.repeats)
    _, m, masked_ratio = paired_ratio(dense, masked, x, args.repeats)
    cnn = ResNetCNN(width=64, blocks=2).eval()
    with torch.no_grad():
        for module in cnn.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
    slim = copy.deepcopy(cnn)
    channels = remove_channels(slim, 0.5)
    images = load_digits()["x"]
    cnn_masked, cnn_density = masked_copy(cnn, 0.5)
    cd, cp, cnn_ratio = paired_ratio(cnn, slim, images, args.repeats)
    _, cm, cnn_masked_ratio = paired_ratio(cnn, cnn_masked, images, args.repeats)
    cnn_macs = {"dense": macs(cnn, images), "channels_removed": macs(slim, images),
                "unstructured_50": macs(cnn, images, cnn_density)}
    print(f"cnn: dense {cd * 1e3:.1f} ms, 50% channels removed {cp * 1e3:.1f} ms ({cnn_ratio:.2f}x), "
          f"unstructured 50% masks {cm * 1e3:.1f} ms ({cnn_masked_ratio:.2f}x); MACs {cnn_macs}; {channels}")
    transformer_macs = {"dense": macs(dense, x), "heads_neurons_removed": macs(pruned, x),
                        "unstructured_50": macs(dense, x, density)}
    print(f"transformer: dense {d * 1e3:.1f} ms, heads+FFN 50% removed {p * 1e3:.1f} ms ({ratio:.2f}x), "
          f"unstructured 50% masks {m * 1e3:.1f} ms ({masked_ratio:.2f}x); MACs {transformer_macs}; "
          f"{torch.get_num_threads()} threads")
    print(json.dumps({"benchmark": "structured_speedup", "threads": torch.get_num_threads(),
                      "transformer_speedup": round(ratio, 2), "transformer_dense_ms": round(d * 1e3, 2),
                      "transformer_pruned_ms": round(p * 1e3, 2), "transformer_heads_left": left["heads"],
                      "transformer_neurons_left": left["neurons"],
                      "transformer_unstructured_50_speedup": round(masked_ratio, 2),
                      "cnn_speedup": round(cnn_ratio, 2), "cnn_dense_ms": round(cd * 1e3, 2),
                      "cnn_pruned_ms": round(cp * 1e3, 2), "cnn_unstructured_50_speedup": round(cnn_masked_ratio, 2),
                      "cnn_macs": cnn_macs, "transformer_macs": transformer_macs}))


if __name__ == "__main__":
    main()
