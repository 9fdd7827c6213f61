"""Result files written by every experiment driver: atomic, durable writes and the run-folder lock."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

TMP_SUFFIX = ".tmp"
LOCK_NAME = ".graphlottery.lock"
OWNER_NAME = ".graphlottery.owner"
BOOKKEEPING = {LOCK_NAME, OWNER_NAME}  # files of the lock, not of the run


class RunFolderError(ValueError):
    """An output folder that cannot be used: held by another run, not a folder, not writable."""


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _read_umask()  # read once, at import: setting it to read it races with other threads


def fsync_dir(folder: Path) -> None:
    """Flush ``folder``'s entries (a rename into it) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Write ``path`` atomically and durably: ``write`` fills a uniquely named temporary file in the
    same folder (``.<name>.<random>.tmp``, so concurrent writers never share one), which is
    fsynced, renamed over ``path``, and the folder fsynced. A kill leaves the old file or the new
    one, never half of one (at worst a stale temporary, which :func:`remove_temporaries` clears)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~UMASK)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of UTF-8 text."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: Path, value: Any) -> None:
    """Write JSON atomically and durably (a killed run never leaves half a file)."""
    write_text(path, json.dumps(value, indent=2))


def read_json(path: Path, kind: type = object) -> Any:
    """The JSON value in ``path``, which must be of type ``kind``; else a ``ValueError`` naming the file."""
    try:
        value = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{str(path)!r} is damaged (not JSON: {err}); move it away to start that part again") from None
    if not isinstance(value, kind):
        raise ValueError(f"{str(path)!r} is damaged: expected a JSON {kind.__name__}, got {type(value).__name__}")
    return value


def remove_temporaries(folder: Path) -> int:
    """Delete the temporaries :func:`atomic_write` leaves when killed (only safe while holding the
    folder's :func:`run_lock`); returns how many there were."""
    stale = [p for p in folder.rglob(f".*{TMP_SUFFIX}") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def _holder(folder: Path) -> str:
    try:
        owner = json.loads((folder / OWNER_NAME).read_text())
        return f"process {owner['pid']} on {owner['host']}, started {owner['started']}: {owner['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on run folder ``folder`` (created if needed) while the block runs; a
    second holder, in this or another process, gets a :class:`RunFolderError` naming the first.
    Stale temporaries of a killed run are removed once the lock is held."""
    from filelock import FileLock, Timeout

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(folder / LOCK_NAME, timeout=0)
        lock.acquire()
    except Timeout:
        raise RunFolderError(f"{str(folder)!r} is in use by {_holder(folder)}; wait for it to end or use "
                             "another --out") from None
    except (FileExistsError, NotADirectoryError):
        raise RunFolderError(f"output folder {str(folder)!r} cannot be created: it or a parent is a file") from None
    except PermissionError:
        raise RunFolderError(f"output folder {str(folder)!r} is not writable") from None
    try:
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                 "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        write_json(folder / OWNER_NAME, owner)
        remove_temporaries(folder)
        yield folder
    finally:
        lock.release()


def subplots(*args: Any, **kwargs: Any):
    """``matplotlib.pyplot.subplots`` on the headless Agg backend (matplotlib imported on use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_figure(fig: Any, path: Path) -> Path:
    """Lay ``fig`` out, write it to ``path`` at 120 dpi in the format its suffix names (default PNG), close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    kind = Path(path).suffix.lstrip(".").lower() or "png"
    atomic_write(path, lambda f: fig.savefig(f, dpi=120, format=kind))
    plt.close(fig)
    return path


def cached_json(path: Path, compute: Callable[[], Any]) -> Any:
    """The JSON in ``path``; if there is none yet, ``compute()`` written there first (so a
    rerun skips finished work)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, compute())
    return read_json(path)
