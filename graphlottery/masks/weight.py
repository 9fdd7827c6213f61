"""Masks over the weights of any ``nn.Module``, applied without touching its state_dict.

A :class:`WeightMasks` holds, for each masked parameter (by its qualified name, e.g.
``"convs.0.lin.weight"``), a boolean *hard* mask and optionally a trainable *soft* score.
While attached, the module sees ``weight * mask`` in its forward (a forward pre-hook swaps
the tensor in and a forward hook swaps the parameter back), so ``model.state_dict()``
keeps exactly its keys and stores the dense, unmasked weights.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import torch
from torch import Tensor, nn
from torch.nn.utils import prune as torch_prune

from graphlottery.sparse import mask_to_float

MASKABLE = (nn.Linear,)
_OWNER = "_graphlottery_weight_masks"


def _key(name: str) -> str:
    return name.replace(".", ":")


def maskable_weights(model: nn.Module, types: tuple[type, ...] = MASKABLE) -> list[str]:
    """Qualified names of the ``weight`` of every module of the given types (default: every
    ``nn.Linear``, including PyG's ``Linear`` inside convs via duck typing on ``weight``)."""
    names = []
    for module_name, module in model.named_modules():
        is_pyg_linear = type(module).__name__ == "Linear" and isinstance(getattr(module, "weight", None), Tensor)
        if isinstance(module, types) or is_pyg_linear:
            names.append(f"{module_name}.weight" if module_name else "weight")
    return names


MaskTransform = Callable[[str, Tensor, Tensor], Tensor]


class _SwapHook:
    """Pre-hook / hook pair that shows a module ``param * mask`` during its forward, the mask
    passed through the masks' :attr:`WeightMasks.transforms` in order."""

    def __init__(self, masks: WeightMasks, param: str, name: str):
        self.masks, self.param, self.name, self.key = masks, param, name, _key(name)

    def before(self, module: nn.Module, args) -> None:
        weight = module._parameters[self.param]
        if weight is None:  # re-entrant call: already swapped
            return
        module._parameters[self.param] = None
        module.__dict__[f"_{self.param}_unmasked"] = weight
        mask = self.masks.mask(self.key, weight.dtype)
        for transform in self.masks.transforms:
            mask = transform(self.name, weight, mask)
        module.__dict__[self.param] = weight * mask

    def after(self, module: nn.Module, args, output) -> None:
        weight = module.__dict__.pop(f"_{self.param}_unmasked", None)
        if weight is not None:
            module.__dict__.pop(self.param, None)
            module._parameters[self.param] = weight


class WeightMasks(nn.Module):
    """Hard (boolean) and soft (trainable) masks for named parameters of a model.

    Args:
        model: the module whose parameters are masked.
        names: qualified parameter names; default :func:`maskable_weights` (every Linear weight).

    The effective mask of a parameter is ``hard`` (hard mode) or ``score * hard`` (soft mode,
    see :meth:`make_soft`). ``attach()`` registers the hooks, ``detach()`` removes them.
    ``transforms``: callables ``fn(name, weight, mask) -> mask`` applied in order to the effective
    mask of the parameter ``name`` at every forward of its module (``weight``: the dense parameter,
    gradients flow through both); the module computes with ``weight * mask``. Empty by default.
    """

    def __init__(self, model: nn.Module, names: Iterable[str] | None = None):
        super().__init__()
        params = dict(model.named_parameters())
        self.names = list(names) if names is not None else maskable_weights(model)
        if not self.names:
            raise ValueError(f"{type(model).__name__} has no maskable weights (no nn.Linear found)")
        for name in self.names:
            if name not in params:
                raise KeyError(f"{type(model).__name__} has no parameter named {name!r}")
            self.register_buffer(f"hard_{_key(name)}", torch.ones_like(params[name], dtype=torch.bool))
        self.scores = nn.ParameterDict()
        self.transforms: list[MaskTransform] = []
        self._model_ref = [model]  # a list, so the model is not registered as a submodule
        self._handles: list = []

    # --- access -----------------------------------------------------------------------
    def hard(self, name: str) -> Tensor:
        return getattr(self, f"hard_{_key(name)}")

    def mask(self, name: str, dtype: torch.dtype = torch.float) -> Tensor:
        """The effective mask of ``name``: ``score * hard`` when soft, else ``hard`` as ``dtype``."""
        key = _key(name)
        hard = getattr(self, f"hard_{key}")
        if key in self.scores:
            return self.scores[key] * mask_to_float(hard, self.scores[key].dtype)
        return mask_to_float(hard, dtype)

    def items(self) -> Iterator[tuple[str, Tensor]]:
        """``(name, hard mask)`` pairs."""
        return ((name, self.hard(name)) for name in self.names)

    def score_list(self) -> list[Tensor]:
        return [self.scores[_key(n)] for n in self.names]

    @property
    def is_soft(self) -> bool:
        return len(self.scores) > 0

    # --- soft / hard --------------------------------------------------------------------
    def make_soft(self, noise: float = 1e-5, generator: torch.Generator | None = None) -> WeightMasks:
        """Create trainable scores ``hard * (1 + U(-noise, noise))`` (pruned entries stay 0)."""
        for name in self.names:
            hard = self.hard(name)
            u = torch.rand(hard.shape, generator=generator, device="cpu").to(hard.device)
            score = mask_to_float(hard) * (1.0 + noise * (2.0 * u - 1.0))
            self.scores[_key(name)] = nn.Parameter(score)
        return self

    def make_hard(self) -> WeightMasks:
        """Drop the soft scores; the masks become the boolean hard masks."""
        self.scores = nn.ParameterDict()
        return self

    def set_hard(self, masks: dict[str, Tensor]) -> WeightMasks:
        """Replace hard masks by ``{name: bool tensor}``; names and shapes must match."""
        if set(masks) != set(self.names):
            missing, extra = set(self.names) - set(masks), set(masks) - set(self.names)
            raise KeyError(f"mask names do not match the model: missing {sorted(missing)}, unexpected {sorted(extra)}")
        for name, value in masks.items():
            hard = self.hard(name)
            if tuple(value.shape) != tuple(hard.shape):
                raise ValueError(f"mask for {name!r} has shape {tuple(value.shape)}, the parameter {tuple(hard.shape)}")
            hard.copy_(value.to(torch.bool))
        return self

    def hard_dict(self) -> dict[str, Tensor]:
        """``{name: bool mask}`` copies, on CPU."""
        return {name: hard.detach().cpu().clone() for name, hard in self.items()}

    # --- hooks --------------------------------------------------------------------------
    def attach(self) -> WeightMasks:
        """Make the model compute with masked weights; idempotent. Raises ``ValueError`` if
        another :class:`WeightMasks` is attached to the same modules (see :meth:`detach_all`)."""
        if self._handles:
            return self
        modules = dict(self._model_ref[0].named_modules())
        targets = [modules[name.rpartition(".")[0]] for name in self.names]
        for module in targets:
            owner = module.__dict__.get(_OWNER)
            if owner is not None and owner is not self:
                raise ValueError(
                    f"{type(module).__name__} already has other weight masks attached; call their .detach() "
                    "or WeightMasks.detach_all(model) first"
                )
        for name, module in zip(self.names, targets):
            hook = _SwapHook(self, name.rpartition(".")[2], name)
            module.__dict__[_OWNER] = self
            self._handles.append(module.register_forward_pre_hook(hook.before))
            self._handles.append(module.register_forward_hook(hook.after, always_call=True))
        return self

    def detach(self) -> WeightMasks:
        """Remove the hooks; the model computes with its dense weights again."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        for module in self._model_ref[0].modules():
            if module.__dict__.get(_OWNER) is self:
                del module.__dict__[_OWNER]
        return self

    @staticmethod
    def detach_all(model: nn.Module) -> None:
        """Detach every :class:`WeightMasks` attached to ``model``'s modules."""
        owners = {id(m.__dict__[_OWNER]): m.__dict__[_OWNER] for m in model.modules() if _OWNER in m.__dict__}
        for owner in owners.values():
            owner.detach()

    # --- torch.nn.utils.prune interop -----------------------------------------------------
    def to_torch_prune(self, model: nn.Module | None = None) -> nn.Module:
        """Install the hard masks as ``torch.nn.utils.prune`` masks (``weight_orig`` / ``weight_mask``).

        These masks are detached first: ``torch.nn.utils.prune`` now applies them (and renames
        the parameters in the state_dict, as it always does)."""
        self.detach()
        model = model if model is not None else self._model_ref[0]
        modules = dict(model.named_modules())
        for name, hard in self.items():
            module_name, _, param = name.rpartition(".")
            torch_prune.custom_from_mask(modules[module_name], param, hard)
        return model

    @classmethod
    def from_torch_prune(cls, model: nn.Module) -> WeightMasks:
        """Read every ``*_mask`` buffer left by ``torch.nn.utils.prune`` and remove the
        reparametrisation (the model gets plain, dense parameters back)."""
        found: dict[str, Tensor] = {}
        for module_name, module in model.named_modules():
            for hook in list(module._forward_pre_hooks.values()):
                if isinstance(hook, torch_prune.BasePruningMethod):
                    param = hook._tensor_name
                    mask = getattr(module, f"{param}_mask").detach().clone().to(torch.bool)
                    orig = getattr(module, f"{param}_orig").detach().clone()
                    torch_prune.remove(module, param)
                    with torch.no_grad():
                        getattr(module, param).copy_(orig)
                    found[f"{module_name}.{param}" if module_name else param] = mask
        if not found:
            raise ValueError(f"{type(model).__name__} has no torch.nn.utils.prune masks to import")
        return cls(model, names=list(found)).set_hard(found)
