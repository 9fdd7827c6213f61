"""Where datasets are read from (a possibly read-only root) and processed (a cache keyed by the
content of the raw files, checked against the root's ``SHA256SUMS`` when it has one)."""
from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA_ENV = "GRAPHLOTTERY_DATA"
CACHE_ENV = "GRAPHLOTTERY_CACHE"
SUMS = "SHA256SUMS"
UNSAFE_CACHE = ("pre_transform.pt", "pre_filter.pt")  # PyG reads these with weights_only=False


class DataError(ValueError):
    """Dataset files that are damaged, altered, or do not hold the dataset they should."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$GRAPHLOTTERY_DATA``, which must exist; else
    ``~/.cache/graphlottery/data`` (created), where missing datasets are downloaded."""
    chosen = root if root is not None else os.environ.get(DATA_ENV)
    if chosen is None:
        default = Path.home() / ".cache" / "graphlottery" / "data"
        default.mkdir(parents=True, exist_ok=True)
        return default
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


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _listed_sums(root: Path) -> dict[Path, str]:
    """``root/SHA256SUMS`` as resolved path -> digest (empty without the file)."""
    sums = root / SUMS
    if not sums.is_file():
        return {}
    listed = {}
    for line in sums.read_text().splitlines():
        fields = line.split(maxsplit=1)  # "digest  name" or, from sha256sum -b, "digest *name"
        if len(fields) == 2:
            listed[(root / fields[1].lstrip("*")).resolve()] = fields[0].lower()
    return listed


def check_files(files: list[Path], root: Path) -> dict[Path, str]:
    """SHA-256 of each file; those the data ``root``'s ``SHA256SUMS`` lists must match it, else a
    :class:`DataError` names the file."""
    listed = _listed_sums(root)
    digests = {}
    for f in files:
        digests[f] = sha256(f)
        expected = listed.get(f.resolve())
        if expected is not None and expected != digests[f]:
            raise DataError(f"{f} does not match {root / SUMS} (damaged or altered; restore it from the original)")
    return digests


def snapshot(root: Path, files: dict[str, Path], kind: str) -> Path:
    """Copy ``files`` (cache-relative name -> source file under data ``root``), checked with
    :func:`check_files`, into ``<cache>/<kind>/<key>/``, where ``key`` hashes their content: other
    raw files get another folder, so a cached result is only ever reused for identical inputs. The
    copies are checked too (a damaged one is copied again); returns the folder."""
    digests = check_files(list(files.values()), root)
    key = hashlib.sha256("".join(f"{name}:{digests[src]};" for name, src in sorted(files.items())).encode())
    base = cache_root() / kind / key.hexdigest()[:16]
    for name, src in files.items():
        target = base / name
        if target.is_file() and sha256(target) == digests[src]:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, target)
    return base


def open_cached(base: Path, build: Callable[[], Any], processed: list[Path], source: Path) -> Any:
    """``build()`` (a PyG dataset on the cache folder ``base``) under a lock on ``base``, never letting
    PyG unpickle a cache file unsafely: its ``pre_transform.pt`` / ``pre_filter.pt`` are removed
    before and after, and the ``processed`` files, if present, must load with ``weights_only=True``
    (else a :class:`DataError` names the file). Raw files that cannot be parsed raise a
    :class:`DataError` naming their ``source`` folder."""
    import torch
    from filelock import FileLock

    with FileLock(base / ".lock"):
        for folder in {p.parent for p in processed}:
            for name in UNSAFE_CACHE:
                (folder / name).unlink(missing_ok=True)
        for path in processed:
            if path.is_file():
                try:
                    torch.load(path, map_location="cpu", weights_only=True)
                except Exception as err:  # any failure means the file cannot be trusted
                    raise DataError(f"processed cache file {path} is damaged ({type(err).__name__}); delete "
                                    f"{path.parent} to rebuild it") from None
        try:
            dataset = build()
        except DataError:
            raise
        except (ValueError, RuntimeError, IndexError, KeyError, EOFError, TypeError) as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise DataError(f"the dataset files in {source} cannot be read ({message}); are they damaged?") from None
        for folder in {p.parent for p in processed}:
            for name in UNSAFE_CACHE:
                (folder / name).unlink(missing_ok=True)
    return dataset
