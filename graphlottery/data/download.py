"""Downloads of datasets missing from the data root, from the upstream URLs PyG's and OGB's own
dataset classes use (``Planetoid.url``, ``TUDataset.url``, OGB's ``master.csv``), with a progress
bar, TLS verification, a timeout and a SHA-256 check where the digest is known
(``known.sha256``). A dataset is downloaded into a temporary folder beside its place and moved
there only once complete and checked, so a failed or altered download leaves nothing behind.

``$GRAPHLOTTERY_OFFLINE=1`` (``--offline`` on the command line) forbids downloads;
``$GRAPHLOTTERY_MIRROR`` replaces the scheme and host of every upstream URL (a mirror, or a test
server, holding the same paths).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from graphlottery.data.root import DataError
from graphlottery.files import UMASK

OFFLINE_ENV = "GRAPHLOTTERY_OFFLINE"
MIRROR_ENV = "GRAPHLOTTERY_MIRROR"
TIMEOUT = 60  # seconds without data before a download is given up
KNOWN = Path(__file__).with_name("known.sha256")


class OfflineError(FileNotFoundError):
    """A dataset is missing from the data root and downloads are off."""


class DownloadError(OSError):
    """A download failed (unreachable host, HTTP error, unwritable data root)."""


class NotUpstream(DownloadError):
    """The upstream server has no such file (HTTP 404)."""


def offline() -> bool:
    """Whether downloads are forbidden (``$GRAPHLOTTERY_OFFLINE`` set to anything but ``0`` / empty)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def mirrored(url: str) -> str:
    """``url`` with its scheme and host replaced by ``$GRAPHLOTTERY_MIRROR`` when that is set."""
    base = os.environ.get(MIRROR_ENV, "").strip()
    if not base:
        return url
    parts = urllib.parse.urlsplit(url)
    return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def known_digest(url: str) -> str | None:
    """The SHA-256 this package records for the upstream ``url`` (``known.sha256``), if any."""
    for line in KNOWN.read_text().splitlines():
        digest, _, listed = line.strip().partition("  ")
        if listed == url:
            return digest
    return None


def fetch(url: str, dest: Path, digest: str | None = None) -> Path:
    """Stream upstream ``url`` (through :func:`mirrored`) into the file ``dest`` with a progress
    bar; a ``digest`` (default: :func:`known_digest`) must match, else a :class:`DataError`."""
    from tqdm.auto import tqdm

    digest = digest or known_digest(url)
    source = mirrored(url)
    print(f"Downloading {source}", file=sys.stderr)
    sha = hashlib.sha256()
    try:
        with urllib.request.urlopen(source, timeout=TIMEOUT) as response, open(dest, "wb") as out:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, unit="B", unit_scale=True, desc=f"Downloading {dest.name}", disable=None) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    sha.update(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as err:
        kind = NotUpstream if err.code == 404 else DownloadError
        raise kind(f"cannot download {source}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:  # unreachable, refused, cut off
        reason = getattr(err, "reason", None) or err
        raise DownloadError(f"cannot download {source} ({reason}); check the network, set ${MIRROR_ENV} to a "
                            f"mirror, or put the files under the data root yourself") from None
    if digest is not None and sha.hexdigest() != digest:
        raise DataError(f"{source} has SHA-256 {sha.hexdigest()}, not the known {digest}: the download is damaged "
                        "or altered; nothing was installed")
    return dest


def install(name: str, root: Path, rel: str, fill: Callable[[Path], Path], missing: Exception) -> Path:
    """Download dataset ``name`` into the folder ``root/rel`` (``root``: the data root), unless
    downloads are off (an :class:`OfflineError` quoting ``missing``, what was looked for).
    ``fill(tmp)`` downloads into an empty temporary folder inside ``root`` and returns the folder to
    install; under a lock, it is moved to ``root/rel`` whole (or, if that exists, only its missing
    files are). On any failure the temporary folder is removed and ``root/rel`` is left as it was."""
    target = root / rel
    if offline():
        raise OfflineError(f"{name} is not under the data root {root} and downloads are off (--offline or "
                           f"${OFFLINE_ENV}=1): {missing}")
    from filelock import FileLock

    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".download.{target.name}.", dir=root))
    except OSError as err:
        raise DownloadError(f"cannot download {name} into the data root {root}: {err.strerror or err}") from None
    try:
        with FileLock(root / f".{rel.replace('/', '_')}.lock"):
            ready = fill(tmp)
            os.chmod(ready, 0o777 & ~UMASK)  # mkdtemp's 0700 would hide the data from the root's other users
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.replace(ready, target)
            else:
                for path in sorted(p for p in ready.rglob("*") if p.is_file()):
                    dest = target / path.relative_to(ready)
                    if not dest.exists():
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        os.replace(path, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def fetch_files(urls: dict[str, str]) -> Callable[[Path], Path]:
    """A ``fill`` for :func:`install`: each file name of ``urls`` downloaded from its URL."""
    def fill(tmp: Path) -> Path:
        for filename, url in urls.items():
            fetch(url, tmp / filename)
        return tmp
    return fill


def fetch_zip(url: str, inner: str) -> Callable[[Path], Path]:
    """A ``fill`` for :func:`install`: the zip at ``url`` extracted (with PyG's ``extract_zip``);
    the folder ``inner`` inside it is installed."""
    from torch_geometric.data import extract_zip

    def fill(tmp: Path) -> Path:
        archive = fetch(url, tmp / url.rpartition("/")[2])
        extract_zip(str(archive), str(tmp / "unzipped"), log=False)
        folder = tmp / "unzipped" / inner
        if not folder.is_dir():
            raise DataError(f"{mirrored(url)} holds no folder {inner}/: not the expected archive")
        return folder
    return fill


TU_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-().]*")


def tu_name_ok(name: str) -> bool:
    """Whether ``name`` can be a TUDataset name (letters, digits, ``_ - ( ) .``; no path parts)."""
    return TU_NAME.fullmatch(name) is not None and ".." not in name


def find_or_fetch(name: str, root: Path, candidates: list[str], expected: list[str],
                  fill: Callable[[Path], Path]) -> Path:
    """:func:`~graphlottery.data.root.find_raw_dir`, downloading dataset ``name`` into
    ``root/<first candidate>`` (through :func:`install`) when its files are not there."""
    from graphlottery.data.root import find_raw_dir

    try:
        return find_raw_dir(root, candidates, expected)
    except FileNotFoundError as missing:
        install(name, root, candidates[0], fill, missing)
    return find_raw_dir(root, candidates, expected)
