"""Where datasets are read from (a possibly read-only root) and processed (a cache)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

DATA_ENV = "GRAPHLOTTERY_DATA"
CACHE_ENV = "GRAPHLOTTERY_CACHE"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$GRAPHLOTTERY_DATA``; it must exist."""
    chosen = root if root is not None else os.environ.get(DATA_ENV)
    if chosen is None:
        raise FileNotFoundError(f"no data root: pass root=... (or --data-root) or set ${DATA_ENV}")
    path = Path(chosen).expanduser()
    if not path.is_dir():
        source = "argument" if root is not None else f"${DATA_ENV}"
        raise FileNotFoundError(f"data root {str(path)!r} (from {source}) is not a readable directory")
    return path


def cache_root() -> Path:
    """Writable cache for processed datasets: ``$GRAPHLOTTERY_CACHE`` or ``~/.cache/graphlottery``."""
    path = Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "graphlottery")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def find_raw_dir(root: Path, candidates: list[str], expected: list[str]) -> Path:
    """First ``root/<candidate>`` holding every expected file; else a ``FileNotFoundError``
    naming the paths searched and the files expected."""
    for rel in candidates:
        path = root / rel
        if path.is_dir() and all((path / f).is_file() for f in expected):
            return path
    searched = ", ".join(str(root / c) for c in candidates)
    raise FileNotFoundError(f"dataset files not found; searched {searched}; expected files: {', '.join(expected)}")


def mirror(src: Path, dst: Path) -> Path:
    """Copy the files of ``src`` into ``dst`` (atomically per file, skipping identical sizes)."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if not f.is_file():
            continue
        target = dst / f.name
        if target.is_file() and target.stat().st_size == f.stat().st_size:
            continue
        with tempfile.NamedTemporaryFile(dir=dst, delete=False) as tmp:
            shutil.copyfile(f, tmp.name)
        os.replace(tmp.name, target)
    return dst
