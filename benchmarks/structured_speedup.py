"""CPU inference of structurally pruned models against dense ones, measured side by side.

Transformer: a 4-block pre-norm encoder (dim 256, 8 heads, FFN 1024) on 64 sequences of 65 tokens;
half of every layer's heads and FFN neurons removed physically (by their EarlyBERT coefficients)
against the dense encoder, and against unstructured 50% magnitude masks (same MACs saved on
paper, no time saved). Dense and pruned runs alternate; the median of the per-pair ratios is
reported.

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
from graphlottery.masks import WeightMasks, prune_lowest
from graphlottery.nn.transformer import TransformerBlock, prune_heads_and_neurons
from graphlottery.nn.vision import ResNetCNN, remove_channels


def seconds(model: nn.Module, x: torch.Tensor) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        model(x)
    return time.perf_counter() - start


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
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
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
    left = prune_heads_and_neurons(pruned, heads=0.5, neurons=0.5)
    masked = copy.deepcopy(dense)
    masks = WeightMasks(masked)
    names = masks.names
    kept = prune_lowest([masked.get_parameter(n) for n in names], [masks.hard(n) for n in names], 0.5)
    masks.set_hard(dict(zip(names, kept))).attach()
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
    cd, cp, cnn_ratio = paired_ratio(cnn, slim, images, args.repeats)
    print(f"cnn: dense {cd * 1e3:.1f} ms, 50% channels removed {cp * 1e3:.1f} ms ({cnn_ratio:.2f}x); {channels}")
    print(f"transformer: dense {d * 1e3:.1f} ms, heads+FFN 50% removed {p * 1e3:.1f} ms ({ratio:.2f}x), "
          f"unstructured 50% masks {m * 1e3:.1f} ms ({masked_ratio:.2f}x); {torch.get_num_threads()} threads")
    print(json.dumps({"benchmark": "structured_speedup", "threads": torch.get_num_threads(),
                      "transformer_speedup": round(ratio, 2), "transformer_dense_ms": round(d * 1e3, 2),
                      "transformer_pruned_ms": round(p * 1e3, 2), "transformer_heads_left": left["heads"],
                      "transformer_neurons_left": left["neurons"],
                      "transformer_unstructured_50_speedup": round(masked_ratio, 2),
                      "cnn_speedup": round(cnn_ratio, 2), "cnn_dense_ms": round(cd * 1e3, 2),
                      "cnn_pruned_ms": round(cp * 1e3, 2)}))


if __name__ == "__main__":
    main()
