"""A pre-norm transformer encoder whose attention heads and FFN neurons carry learnable
coefficients (EarlyBERT) and can be removed physically, and a small vision transformer for
8×8 images.

Every projection is an ``nn.Linear``, so :class:`~graphlottery.masks.WeightMasks` puts
unstructured masks on them as on any other model; :meth:`TransformerBlock.prune` removes whole
heads and neurons, so the pruned model really computes less.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _keep_rows(linear: nn.Linear, rows: Tensor) -> nn.Linear:
    out = nn.Linear(linear.in_features, int(rows.numel()), bias=linear.bias is not None, dtype=linear.weight.dtype)
    out.weight.data.copy_(linear.weight.data[rows])
    if linear.bias is not None:
        out.bias.data.copy_(linear.bias.data[rows])
    return out.to(linear.weight.device)


def _keep_columns(linear: nn.Linear, columns: Tensor) -> nn.Linear:
    out = nn.Linear(int(columns.numel()), linear.out_features, bias=linear.bias is not None, dtype=linear.weight.dtype)
    out.weight.data.copy_(linear.weight.data[:, columns])
    if linear.bias is not None:
        out.bias.data.copy_(linear.bias.data)
    return out.to(linear.weight.device)


def _check_keep(keep: Tensor, size: int, what: str) -> Tensor:
    if keep.dtype != torch.bool or keep.shape != (size,):
        raise ValueError(f"keep must be a boolean [{size}] mask over the {what}, got {keep.dtype} {tuple(keep.shape)}")
    if not bool(keep.any()):
        raise ValueError(f"cannot remove every {what[:-1]} of a layer")
    return keep.nonzero().view(-1).to(keep.device)


class MultiHeadSelfAttention(nn.Module):
    """:math:`\\mathrm{out}\\big(\\Vert_h\\, c_h\\, \\mathrm{softmax}(Q_h K_h^\\top / \\sqrt{d})\\, V_h\\big)`
    with one learnable coefficient :math:`c_h` per head (``head_gate``, start 1). ``[B, T, D] -> [B, T, D]``."""

    def __init__(self, dim: int, heads: int, head_dim: int | None = None):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim or dim // heads
        inner = self.heads * self.head_dim
        self.q, self.k, self.v = nn.Linear(dim, inner), nn.Linear(dim, inner), nn.Linear(dim, inner)
        self.out = nn.Linear(inner, dim)
        self.head_gate = nn.Parameter(torch.ones(heads))

    def forward(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape

        def split(z: Tensor) -> Tensor:
            return z.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        attended = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)))
        attended = attended * self.head_gate.view(1, -1, 1, 1)
        return self.out(attended.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))

    def remove_heads(self, keep: Tensor) -> None:
        """Keep only the heads where ``keep`` (bool ``[heads]``) is true; their coefficients are
        folded into the output projection, so the function of the kept heads is unchanged."""
        heads = _check_keep(keep, self.heads, "heads")
        rows = (heads.view(-1, 1) * self.head_dim + torch.arange(self.head_dim, device=heads.device)).view(-1)
        self.q, self.k, self.v = (_keep_rows(lin, rows) for lin in (self.q, self.k, self.v))
        out = _keep_columns(self.out, rows)
        out.weight.data.mul_(self.head_gate.data[heads].repeat_interleave(self.head_dim).view(1, -1))
        self.out = out
        self.heads = int(heads.numel())
        self.head_gate = nn.Parameter(torch.ones(self.heads, device=keep.device))


class FeedForward(nn.Module):
    """:math:`W_2 (c \\odot \\mathrm{GELU}(W_1 x))` with one coefficient per hidden neuron
    (``neuron_gate``, start 1). ``[..., D] -> [..., D]``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.neuron_gate = nn.Parameter(torch.ones(hidden))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)) * self.neuron_gate)

    def remove_neurons(self, keep: Tensor) -> None:
        """Keep only the hidden neurons where ``keep`` (bool ``[hidden]``) is true (coefficients
        folded into ``fc2``)."""
        neurons = _check_keep(keep, self.fc1.out_features, "neurons")
        self.fc1 = _keep_rows(self.fc1, neurons)
        fc2 = _keep_columns(self.fc2, neurons)
        fc2.weight.data.mul_(self.neuron_gate.data[neurons].view(1, -1))
        self.fc2 = fc2
        self.neuron_gate = nn.Parameter(torch.ones(int(neurons.numel()), device=keep.device))


class TransformerBlock(nn.Module):
    """Pre-norm encoder block: ``x + attn(LN(x))``, then ``x + ffn(LN(x))``."""

    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn, self.ffn = MultiHeadSelfAttention(dim, heads), FeedForward(dim, hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class VisionTransformer(nn.Module):
    """ViT for small images: ``patch × patch`` patches embedded linearly, a class token, learnt
    position embeddings, ``depth`` :class:`TransformerBlock` s, a linear head on the class token.
    ``[B, C, H, W] -> [B, classes]``."""

    def __init__(self, image: int = 8, patch: int = 2, channels: int = 1, num_classes: int = 10, dim: int = 64,
                 depth: int = 2, heads: int = 4, hidden: int = 128):
        super().__init__()
        if image % patch:
            raise ValueError(f"image size {image} is not a multiple of the patch size {patch}")
        self.patch = patch
        tokens = (image // patch) ** 2
        self.embed = nn.Linear(channels * patch * patch, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) / math.sqrt(dim))
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, hidden) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        b, c, _, _ = x.shape
        p = self.patch
        patches = x.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5).reshape(b, -1, c * p * p)
        z = torch.cat([self.cls.expand(b, -1, -1), self.embed(patches)], 1) + self.pos
        for block in self.blocks:
            z = block(z)
        return self.head(self.norm(z[:, 0]))


def gate_penalty(model: nn.Module) -> Tensor:
    """:math:`\\sum |c|` over every head and neuron coefficient of ``model`` (EarlyBERT's L1 term)."""
    gates = [m.head_gate for m in model.modules() if isinstance(m, MultiHeadSelfAttention)]
    gates += [m.neuron_gate for m in model.modules() if isinstance(m, FeedForward)]
    if not gates:
        raise ValueError(f"{type(model).__name__} has no attention heads or FFN neurons with coefficients")
    return sum(g.abs().sum() for g in gates)


def prune_heads_and_neurons(model: nn.Module, heads: float, neurons: float, neuron_scope: str = "global"
                            ) -> dict[str, int]:
    """Physically remove, in every attention layer, the fraction ``heads`` of heads with the
    smallest ``|coefficient|`` (at least one head stays), and the fraction ``neurons`` of FFN
    hidden neurons with the smallest ``|coefficient|``: ranked over all layers together
    (``neuron_scope="global"``, EarlyBERT's choice) or within each FFN (``"layer"``); every FFN
    keeps at least its largest neuron. Returns the numbers of heads and neurons left."""
    for name, fraction in (("heads", heads), ("neurons", neurons)):
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"the fraction of {name} to prune must be in [0, 1), got {fraction}")
    if neuron_scope not in ("global", "layer"):
        raise ValueError(f"neuron_scope must be 'global' or 'layer', got {neuron_scope!r}")
    attention = [m for m in model.modules() if isinstance(m, MultiHeadSelfAttention)]
    ffns = [m for m in model.modules() if isinstance(m, FeedForward)]
    if not attention and not ffns:
        raise ValueError(f"{type(model).__name__} has no attention heads or FFN neurons to prune")
    for module in attention:
        module.remove_heads(_lowest(module.head_gate, heads))
    if neuron_scope == "layer":
        keeps = [_lowest(m.neuron_gate, neurons) for m in ffns]
    else:
        keeps = _lowest_global([m.neuron_gate for m in ffns], neurons) if ffns else []
    for module, keep in zip(ffns, keeps):
        module.remove_neurons(keep)
    return {"heads": sum(m.heads for m in attention), "neurons": sum(m.fc1.out_features for m in ffns)}


def _lowest(gate: Tensor, fraction: float) -> Tensor:
    """Keep-mask without the ``round(fraction · n)`` smallest ``|gate|`` entries (at least one kept)."""
    return _lowest_global([gate], fraction)[0]


def _lowest_global(gates: list[Tensor], fraction: float) -> list[Tensor]:
    """Keep-masks without the ``round(fraction · total)`` smallest ``|gate|`` entries over all
    ``gates`` together; each gate's largest entry is never a candidate, so every one keeps one.
    Ties are broken by the relative position within each gate, so equal coefficients (e.g. all
    still at their initial 1) are dropped evenly across layers, not layer after layer."""
    sizes = [g.numel() for g in gates]
    scores = torch.cat([g.detach().abs() for g in gates])
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    scores[[offset + int(part.argmax()) for part, offset in zip(scores.split(sizes), offsets)]] = float("inf")
    position = torch.cat([torch.arange(n, device=scores.device) / n for n in sizes])
    by_position = torch.sort(position, stable=True).indices
    order = by_position[torch.sort(scores[by_position], stable=True).indices]  # score first, then position
    drop = min(round(fraction * scores.numel()), scores.numel() - len(gates))
    keep = torch.ones_like(scores, dtype=torch.bool)
    keep[order[:drop]] = False
    return list(keep.split(sizes))
