"""Process-wide settings that make CPU training of GNNs faster."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MAX_MMAP_THRESHOLD = 32 * 2**20  # glibc's ceiling on 64-bit


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to reuse freed memory instead of returning it to the OS.

    PyTorch's CPU allocator frees every activation after use; glibc then unmaps large
    blocks and trims the heap, so the next epoch page-faults the same memory in again.
    On the 2-core machines this library is tuned on, that kernel time is up to half of a
    large-graph epoch. This keeps allocations on the heap (no ``mmap`` per tensor) and never
    trims it: the process holds on to its peak memory, in exchange for no page faults.
    Returns ``False`` (and does nothing) where glibc is not the allocator.
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MAX_MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def reexec_with_huge_pages() -> None:
    """Restart this process with glibc's ``glibc.malloc.hugetlb=1`` tunable, once.

    Large tensors are ``mmap``-ed per allocation; with transparent huge pages they fault in
    2 MiB at a time instead of 4 KiB, which on the ogbn-arxiv-size benchmark cuts a training
    epoch by a third or more. A tunable can only be set before the process starts, so the
    ``graphlottery`` command and the benchmarks re-execute themselves with it.
    Set ``GRAPHLOTTERY_NO_REEXEC=1`` to opt out; does nothing off Linux.
    """
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if not sys.platform.startswith("linux") or "glibc.malloc.hugetlb" in tunables:
        return
    if os.environ.get("GRAPHLOTTERY_NO_REEXEC"):
        return
    env = dict(os.environ, GLIBC_TUNABLES=":".join(t for t in (tunables, "glibc.malloc.hugetlb=1") if t))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
