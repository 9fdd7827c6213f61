"""A small ResNet for 8×8 images (the digits example of CNN pruning)."""
from __future__ import annotations

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
