"""Encoder checkpoints: save a module's weights with metadata, and start another model from
them (e.g. a GLT run from a GraphCL pre-trained encoder)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

KIND = "graphlottery-encoder"


def save_encoder(module: nn.Module, path: str | os.PathLike, **meta: Any) -> Path:
    """Save ``module``'s state_dict with ``meta`` (e.g. dataset, config; the module's class name is
    added as ``meta["model"]``) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"kind": KIND, "state_dict": state, "meta": {"model": type(module).__name__, **meta}}, tmp)
    os.replace(tmp, path)
    return path


def read_encoder(path: str | os.PathLike) -> dict[str, Any]:
    """Load an encoder checkpoint written by :func:`save_encoder` (safe ``weights_only`` loading)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"encoder checkpoint {str(path)!r} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise ValueError(f"{str(path)!r} is not a readable encoder checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("kind") != KIND:
        raise ValueError(f"{str(path)!r} is not a graphlottery encoder checkpoint")
    return checkpoint


def load_encoder(model: nn.Module, path: str | os.PathLike, dataset: str | None = None) -> list[str]:
    """Copy an encoder checkpoint's weights into the parameters of ``model`` with the same
    names and return those names; the rest of ``model`` keeps its own initialisation.

    Raises a ``ValueError`` if the checkpoint was made on another ``dataset`` or for another
    model class, or holds a weight ``model`` lacks or has in another shape.
    """
    checkpoint = read_encoder(path)
    made_for = checkpoint["meta"].get("model")
    if made_for is not None and made_for != type(model).__name__:
        raise ValueError(f"encoder checkpoint {str(path)!r} holds a {made_for} encoder; "
                         f"it cannot start a {type(model).__name__}")
    made_on = checkpoint["meta"].get("dataset")
    if dataset is not None and made_on is not None and made_on.lower() != dataset.lower():
        raise ValueError(f"encoder checkpoint {str(path)!r} was pre-trained on {made_on}, not {dataset}")
    own = model.state_dict()
    missing = [name for name in checkpoint["state_dict"] if name not in own]
    if missing:
        raise ValueError(f"encoder checkpoint {str(path)!r} holds {missing}, which the model does not have; "
                         f"model weights: {sorted(own)}")
    for name, value in checkpoint["state_dict"].items():
        if own[name].shape != value.shape:
            raise ValueError(f"encoder checkpoint {str(path)!r}: {name!r} has shape {tuple(value.shape)}, "
                             f"the model's has {tuple(own[name].shape)}")
    if not checkpoint["state_dict"]:
        raise ValueError(f"encoder checkpoint {str(path)!r} holds no weights")
    with torch.no_grad():
        for name, value in checkpoint["state_dict"].items():
            own[name].copy_(value)
    return sorted(checkpoint["state_dict"])
