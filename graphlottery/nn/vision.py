"""A small ResNet for 8×8 images (the digits example of CNN pruning)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BasicBlock(nn.Module):
    """``x -> conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> + shortcut(x) -> ReLU``; the shortcut is
    a strided 1×1 conv + BN when the width or resolution changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetCNN(nn.Module):
    """A conv stem and two stages of :class:`BasicBlock` (``width``, then ``2 width`` channels at
    half resolution), global average pooling and a linear classifier. ``[B, C, H, W] -> [B, classes]``."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16, blocks: int = 1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU())
        stages, channels_in = [], width
        for channels, stride in ((width, 1), (2 * width, 2)):
            for b in range(blocks):
                stages.append(BasicBlock(channels_in, channels, stride if b == 0 else 1))
                channels_in = channels
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.stages(self.stem(x)).mean(dim=(2, 3)))


def _top(importance: Tensor, fraction: float) -> Tensor:
    """Indices (ascending) of the ``n - round(fraction · n)`` most important channels (at least one)."""
    n = importance.numel()
    keep = max(1, n - round(fraction * n))
    return torch.sort(torch.argsort(importance, descending=True, stable=True)[:keep]).values


def _slice_conv(conv: nn.Conv2d, out_idx: Tensor, in_idx: Tensor) -> nn.Conv2d:
    if conv.groups != 1:
        raise ValueError(f"channel removal supports ungrouped convolutions only, got groups={conv.groups}")
    new = nn.Conv2d(int(in_idx.numel()), int(out_idx.numel()), conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, bias=conv.bias is not None).to(conv.weight.device, conv.weight.dtype)
    new.weight.data.copy_(conv.weight.data[out_idx][:, in_idx])
    if conv.bias is not None:
        new.bias.data.copy_(conv.bias.data[out_idx])
    return new


def _slice_bn(bn: nn.BatchNorm2d, idx: Tensor) -> nn.BatchNorm2d:
    new = nn.BatchNorm2d(int(idx.numel()), bn.eps, bn.momentum).to(bn.weight.device, bn.weight.dtype)
    for name in ("weight", "bias"):
        getattr(new, name).data.copy_(getattr(bn, name).data[idx])
    for name in ("running_mean", "running_var"):
        getattr(new, name).copy_(getattr(bn, name)[idx])
    new.num_batches_tracked.copy_(bn.num_batches_tracked)
    return new.train(bn.training)


def remove_channels(model: ResNetCNN, fraction: float) -> dict[str, int]:
    """Physically remove ``fraction`` of the channels of every layer of a :class:`ResNetCNN`,
    the least important by the BatchNorm scales :math:`|\\gamma|` (network slimming).

    A block's inner channels (``conv1`` → ``bn1`` → ``conv2``) are ranked on their own; the
    channels of a residual stream (the stem or a strided shortcut, then every block's ``bn2``
    adding into it) are ranked by the sum of ``|γ|`` over everything writing to them and removed
    together, so the additions stay aligned. At least one channel of each stays. Returns the
    channels left per stream and block.
    """
    if not isinstance(model, ResNetCNN):
        raise TypeError(f"remove_channels supports ResNetCNN, got {type(model).__name__}")
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the fraction of channels to remove must be in [0, 1), got {fraction}")
    if any(hook for m in model.modules() for hook in m._forward_pre_hooks.values()):
        raise ValueError("detach weight masks (or other forward pre-hooks) before removing channels: "
                         "they would stay on the replaced layers")
    blocks = list(model.stages)
    # residual streams: the stem's, and one more after every block with a shortcut conv
    stream_of, writers = [], [[model.stem[1].weight.abs()]]
    for block in blocks:
        if len(block.shortcut):
            writers.append([block.shortcut[1].weight.abs()])
        stream_of.append(len(writers) - 1)
        writers[-1].append(block.bn2.weight.abs())
    keep = [_top(torch.stack(w).sum(0).detach(), fraction) for w in writers]
    stem_idx = keep[0]
    all_in = torch.arange(model.stem[0].in_channels, device=stem_idx.device)
    model.stem[0] = _slice_conv(model.stem[0], stem_idx, all_in)
    model.stem[1] = _slice_bn(model.stem[1], stem_idx)
    left = {"stream_0": int(stem_idx.numel())}
    stream_in = stem_idx
    for i, (block, s) in enumerate(zip(blocks, stream_of)):
        inner = _top(block.bn1.weight.detach().abs(), fraction)
        out = keep[s]
        block.conv1 = _slice_conv(block.conv1, inner, stream_in)
        block.bn1 = _slice_bn(block.bn1, inner)
        block.conv2 = _slice_conv(block.conv2, out, inner)
        block.bn2 = _slice_bn(block.bn2, out)
        if len(block.shortcut):
            block.shortcut[0] = _slice_conv(block.shortcut[0], out, stream_in)
            block.shortcut[1] = _slice_bn(block.shortcut[1], out)
            left[f"stream_{s}"] = int(out.numel())
        left[f"block_{i}_inner"] = int(inner.numel())
        stream_in = out
    fc = nn.Linear(int(stream_in.numel()), model.fc.out_features).to(model.fc.weight.device, model.fc.weight.dtype)
    fc.weight.data.copy_(model.fc.weight.data[:, stream_in])
    fc.bias.data.copy_(model.fc.bias.data)
    model.fc = fc
    return left
