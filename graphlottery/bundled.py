"""The experiment configs shipped inside the package (``graphlottery/configs/<group>/<name>.yaml``).

A config is named ``group/name`` (``glt/cora_gcn``, ``linkpred/cora_gcn``) or, where that is
unambiguous for the command, by ``name`` alone. This module reads YAML only: it imports no torch,
so the command lists and resolves configs at once.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "configs"

#: The command that runs each group's configs and the method it runs.
GROUPS: dict[str, tuple[str, str]] = {
    "glt": ("glt", "GLT, node classification"),
    "linkpred": ("glt", "GLT, link prediction"),
    "graphcls": ("glt", "GLT, graph classification"),
    "coldbrew": ("coldbrew", "Cold Brew"),
    "graphcl": ("graphcl", "GraphCL"),
    "imp": ("imp", "IMP (CNN / ViT)"),
}


class ConfigNotFound(FileNotFoundError):
    """A config argument that is neither a file nor a bundled config's name."""


@dataclass(frozen=True)
class BundledConfig:
    """One shipped config: its ``group/name``, file, and the summary ``graphlottery configs`` prints."""

    name: str
    path: Path
    dataset: str
    model: str
    method: str
    summary: str

    @property
    def command(self) -> str:
        return GROUPS[self.name.split("/")[0]][0]


def _summary(text: str, width: int = 80) -> str:
    """The first sentence of a config's leading comment, cut to about ``width`` characters."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    comment = " ".join(lines)
    match = re.match(r"(.+?[.;])(\s|$)", comment)
    sentence = (match.group(1) if match else comment).rstrip(".;")
    return sentence if len(sentence) <= width else sentence[:width].rsplit(" ", 1)[0].rstrip(",:;(") + " ..."


def _model(group: str, values: dict) -> str:
    if "model" in values:
        return str(values["model"])
    if group == "coldbrew":
        return "gcn+mlp"
    if group == "graphcl":
        return "gcn" if str(values.get("dataset", "")).lower() in ("cora", "citeseer", "pubmed") else "gin"
    return {"imp": "resnet"}.get(group, "gcn")


def bundled_configs(group: str | None = None) -> list[BundledConfig]:
    """Every shipped config (of one ``group``), sorted by name."""
    import yaml

    if group is not None and group not in GROUPS:
        raise ConfigNotFound(f"unknown config group {group!r}; groups: {sorted(GROUPS)}")
    found = []
    for path in sorted(CONFIG_DIR.glob(f"{group or '*'}/*.yaml")):
        text = path.read_text()
        values = yaml.safe_load(text) or {}
        name = f"{path.parent.name}/{path.stem}"
        found.append(BundledConfig(name, path, str(values.get("dataset", "?")), _model(path.parent.name, values),
                                   GROUPS[path.parent.name][1], _summary(text)))
    return found


def resolve_config(spec: str | os.PathLike, command: str | None = None) -> Path:
    """The file ``spec`` names: an existing path, else a bundled config ``group/name`` or ``name``.

    A bare ``name`` is looked up among the groups ``command`` runs (all groups without one), its
    own group first (``glt cora_gcn`` is ``glt/cora_gcn``, not ``linkpred/cora_gcn``); a name
    found in several other groups is an error that lists them.
    """
    path = Path(spec)
    if path.is_file():
        return path
    text = str(spec).removesuffix(".yaml").removesuffix(".yml")
    groups = [g for g, (cmd, _) in GROUPS.items() if command is None or cmd == command]
    if "/" in text and text.split("/")[0] in groups and len(text.split("/")) == 2:
        candidates = [CONFIG_DIR / f"{text}.yaml"]
    elif "/" not in text and "\\" not in text:
        own = command or "glt"
        candidates = [CONFIG_DIR / g / f"{text}.yaml" for g in sorted(groups, key=lambda g: g != own)]
    else:
        candidates = []
    found = [c for c in candidates if c.is_file()]
    if found and (len(found) == 1 or found[0].parent.name == (command or "glt")):
        return found[0]
    if found:
        names = [f"{c.parent.name}/{c.stem}" for c in found]
        raise ConfigNotFound(f"config name {str(spec)!r} is ambiguous: {', '.join(names)}; name one of them")
    hint = "`graphlottery configs` lists the bundled ones" if command is None else \
        f"`graphlottery configs` lists the bundled ones (`{command}` runs {', '.join(groups)})"
    raise ConfigNotFound(f"config {str(spec)!r} is neither a file nor a bundled config; {hint}")
