"""Result files written by every experiment driver."""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_json(path: Path, value: Any) -> None:
    """Write JSON atomically (a killed run never leaves half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2))
    os.replace(tmp, path)


def subplots(*args: Any, **kwargs: Any):
    """``matplotlib.pyplot.subplots`` on the headless Agg backend (matplotlib imported on use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_figure(fig: Any, path: Path) -> Path:
    """Lay ``fig`` out, write it as a 120-dpi PNG to ``path`` and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def cached_json(path: Path, compute: Callable[[], Any]) -> Any:
    """The JSON in ``path``; if there is none yet, ``compute()`` written there first (so a
    rerun skips finished work)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, compute())
    return json.loads(path.read_text())
