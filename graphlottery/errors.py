"""One-line messages for the errors a user can cause (the command prints them as
``graphlottery: error: ...``)."""
from __future__ import annotations

EXTRAS = {"ogb": "ogb", "torch_scatter": "fast", "torch_sparse": "fast"}  # optional module -> pip extra


def one_line(err: BaseException) -> str:
    """``err`` as one line: an OS error as ``<file>: <reason>``, a missing optional module with
    the extra that installs it, anything else by its message (lines joined with ``; ``)."""
    if isinstance(err, ImportError) and err.name is not None:
        module = err.name.split(".")[0]
        if module in EXTRAS:
            return f"this needs the optional package {module!r}: pip install 'graphlottery[{EXTRAS[module]}]'"
        return f"missing package {module!r} ({err}); reinstall graphlottery with pip"
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        return f"{err.filename}: {err.strerror}"
    text = str(err).strip() or type(err).__name__
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())
