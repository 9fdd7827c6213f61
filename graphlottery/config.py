"""Experiment configs as typed data, loaded from YAML (unknown keys are errors)."""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from graphlottery.files import BOOKKEEPING, write_text
from graphlottery.masks.prune import check_fraction

MAX_SEED = 2**32 - 1  # numpy's and most generators' limit

#: The section of a grouped GLT config (``data:``, ``model:``, ...) each flat key of
#: :class:`GLTConfig` belongs to; loading, :meth:`GLTConfig.to_grouped` and the docs use it.
#: In its section a key keeps its flat name, except those of :data:`WRITTEN_AS`.
GLT_GROUPS: dict[str, str] = {
    **dict.fromkeys(("dataset", "data_root", "split_seed", "fold", "link_val", "link_test"), "data"),
    **dict.fromkeys(("model", "hidden", "layers", "heads", "dropout", "norm", "temperature", "learn_temperature",
                     "mlp_layers", "embedding", "decoder", "pool", "dense_layers", "init"), "model"),
    **dict.fromkeys(("task", "link_metric", "link_val_as_input"), "task"),
    **dict.fromkeys(("method", "method_options", "s1", "s2", "l1", "mask_noise", "mask_weight_decay", "graph_mask",
                     "scorer_hops", "scorer_dim", "early_bird_window", "early_bird_threshold", "directed",
                     "reference"), "method"),
    **dict.fromkeys(("schedule", "rounds", "prune_graph", "prune_weight", "random_baseline"), "schedule"),
    **dict.fromkeys(("lr", "weight_decay", "mask_epochs", "retrain_epochs", "seeds", "device", "batch_size",
                     "num_neighbors", "eval_batch_size", "eval_num_neighbors", "num_parts", "distributed"),
                    "training"),
}

#: Flat keys written under another name in their section: a section's own key is its ``name``
#: (``model: {name: gat}``), ``method_options`` is the method section's ``options``.
WRITTEN_AS: dict[str, str] = {"model": "name", "task": "name", "method": "name", "schedule": "name",
                              "method_options": "options"}


class ConfigError(ValueError):
    """A config file or override that cannot be used."""


def _coerce(key: str, value: Any, annotation: str) -> Any:
    """Check a config value against its field's annotation (YAML reads ``1e-3`` as a string)."""
    kinds = annotation.replace(" ", "").split("|")
    if value is None:
        if "None" in kinds:
            return None
        raise ConfigError(f"config key {key!r} may not be null")
    if any(kind == "dict" or kind.startswith("dict[") for kind in kinds):
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"config key {key!r} must be a mapping with string keys, got {value!r}")
        return dict(value)
    try:
        if "bool" in kinds:
            if not isinstance(value, bool):
                raise TypeError
            return value
        if "int" in kinds:
            if isinstance(value, bool) or float(value) != int(value):
                raise TypeError
            return int(value)
        if "float" in kinds:
            if isinstance(value, bool) or not math.isfinite(float(value)):
                raise TypeError
            return float(value)
        for item in ("int", "str"):
            if f"list[{item}]" in kinds:
                values = value if isinstance(value, list) else [value]
                return [_coerce(key, v, item) for v in values]
        return str(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(.inf)
        finite = " (finite)" if "float" in kinds else ""
        raise ConfigError(f"config key {key!r} must be {annotation}{finite}, got {value!r}") from None


def _check_device(device: str) -> None:
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError as err:
        raise ConfigError(f"device {device!r} is not a torch device ({err})") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available on this machine")


class Config:
    """Typed config loaded from a dict or YAML; subclasses are dataclasses.

    ``LEGACY``: keys added after runs were written whose default changes what such a run did,
    mapped to the value those runs used; a run folder whose ``config.yaml`` lacks the key resumes
    with that value (and is refused unless the new config asks for it).
    """

    LEGACY: ClassVar[dict[str, Any]] = {}
    #: flat key -> section of the grouped form (empty: flat keys only)
    GROUPS: ClassVar[dict[str, str]] = {}
    #: flat key -> its name in its section, where that differs
    WRITTEN_AS: ClassVar[dict[str, str]] = {}

    def unread_keys(self) -> set[str]:
        """Keys that have no effect with the other settings (a resume may differ in them)."""
        return set()

    @classmethod
    def flatten(cls, values: dict[str, Any]) -> dict[str, Any]:
        """The flat keys of ``values``, a config written flat, grouped (``GROUPS``) or both: a
        section whose value is a mapping is a group (``model: gcn`` stays the flat key ``model``).
        A key given both flat and in a section, in the wrong section, or unknown to its section is
        an error."""
        sections = set(cls.GROUPS.values())
        flat = {k: v for k, v in values.items() if not (k in sections and isinstance(v, dict))}
        for section in sections - set(cls.GROUPS):  # sections that are no flat key (data, training)
            if section in flat:
                raise ConfigError(f"config section {section!r} must be a mapping of its keys, got {flat[section]!r}")
        for section, items in values.items():
            if section in sections and isinstance(items, dict):
                for name, value in cls._section_keys(section, items).items():
                    if name in flat:
                        raise ConfigError(f"config key {name!r} is given both at the top level and in section "
                                          f"{section!r}; give it once")
                    flat[name] = value
        return flat

    @classmethod
    def _where(cls, key: str) -> str:
        """Where ``key`` goes in the grouped form, for error messages."""
        written = cls.WRITTEN_AS.get(key, key)
        return f"section {cls.GROUPS[key]!r}" + (f" (as {written!r})" if written != key else "")

    @classmethod
    def _section_keys(cls, section: str, items: dict[str, Any]) -> dict[str, Any]:
        """The flat keys of one section's ``items``."""
        own = {cls.WRITTEN_AS.get(k, k): k for k, g in cls.GROUPS.items() if g == section}
        default = next((f.default for f in dataclasses.fields(cls) if f.name == "method"), None)
        method = items.get("name", default) if section == "method" else None
        flat: dict[str, Any] = {}
        options: dict[str, Any] = {}
        for key, value in items.items():
            if not isinstance(key, str):
                raise ConfigError(f"config section {section!r} must map key names to values, got key {key!r}")
            if key in own:
                flat[own[key]] = value
            elif cls.GROUPS.get(key) == section:
                raise ConfigError(f"config key {key!r} is written {cls.WRITTEN_AS[key]!r} in section {section!r}")
            elif key in cls.GROUPS:
                raise ConfigError(f"config key {key!r} belongs in {cls._where(key)}, not in section {section!r}")
            elif section == "method" and method != "ugs":  # the method's own options
                options[key] = value
            else:
                raise ConfigError(f"unknown config key {key!r} in section {section!r}; its keys: {sorted(own)}"
                                  + (" (method 'ugs' has no options of its own)" if section == "method" else ""))
        if options:
            given = flat.get("method_options")
            if not isinstance(given, dict):
                flat["method_options"] = options if given is None else given  # not a mapping: _coerce says so
            else:
                twice = sorted(set(options) & set(given))
                if twice:
                    raise ConfigError(f"method option(s) {twice} given both in section 'method' and in its "
                                      "'options'; give each once")
                flat["method_options"] = {**given, **options}
        return flat

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Any:
        """A config from flat or grouped ``values`` (see :meth:`flatten`)."""
        values = cls.flatten(values)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            sections = f"; sections: {sorted(set(cls.GROUPS.values()))}" if cls.GROUPS else ""
            raise ConfigError(f"unknown config key(s) {unknown}; valid keys: {sorted(names)}{sections}")
        if "dataset" not in values:
            raise ConfigError("config needs a 'dataset'")
        return cls(**{k: _coerce(k, v, cls.__dataclass_fields__[k].type) for k, v in values.items()})

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, **overrides: Any) -> Any:
        """Load ``path`` and apply ``overrides`` (``None`` values are ignored)."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise ConfigError(f"{str(path)!r} is not valid YAML: {str(err).splitlines()[0]}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{str(path)!r} must hold a mapping of config keys")
        values = cls.flatten(values)  # overrides replace a key given in a section
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        """Every key, flat (what a run folder's ``config.yaml`` holds)."""
        return dataclasses.asdict(self)

    def to_grouped(self) -> dict[str, Any]:
        """Every key in its section of ``GROUPS`` (each section's own key first, as ``name``);
        :meth:`from_dict` reads it back to this config. A method's options are written in its
        section, or under ``options`` where one shares a name with a section key (or the method is
        ``ugs``, whose section takes no options of its own)."""
        flat = self.to_dict()
        if not self.GROUPS:
            return flat
        grouped: dict[str, dict[str, Any]] = {section: {} for section in self.GROUPS.values()}
        for key, section in self.GROUPS.items():  # in the table's order: each section's own key first
            if key != "method_options":
                grouped[section][self.WRITTEN_AS.get(key, key)] = flat[key]
        options = flat.get("method_options")
        if options:
            method = grouped["method"]
            nested = {k: v for k, v in options.items()
                      if flat["method"] == "ugs" or k in method or k in self.GROUPS or k in ("name", "options")}
            method.update({k: v for k, v in options.items() if k not in nested})
            if nested:
                method["options"] = nested
        return grouped

    def _check(
        self,
        positive: tuple[str, ...] = (),
        choices: dict[str, Any] | None = None,
        datasets: dict[str, str] | None = None,
    ) -> None:
        """Checks every config shares: a known ``dataset`` (of ``datasets``, lower-case name ->
        name; default: the node-classification datasets), at least one seed, a usable ``device``;
        plus positive integers and allowed values of the named keys."""
        from graphlottery.data import DATASETS

        datasets = DATASETS if datasets is None else datasets
        if self.dataset.lower() not in datasets:
            raise ConfigError(f"unknown dataset {self.dataset!r}; available: {sorted(datasets.values())}")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        for name, allowed in (choices or {}).items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        if not self.seeds:
            raise ConfigError("seeds must list at least one seed")
        bad = [s for s in self.seeds if not 0 <= s <= MAX_SEED]
        if bad:
            raise ConfigError(f"seeds must be integers in [0, {MAX_SEED}], got {bad}")
        self._check_ranges()
        _check_device(self.device)

    def _check_ranges(self) -> None:
        """Checks by key name, for every config: learning rates (``lr``, ``*_lr``) and ``temperature``
        positive, ``weight_decay`` >= 0, dropouts (``dropout``, ``*_dropout``) in [0, 1)."""
        for f in dataclasses.fields(self):
            name, value = f.name, getattr(self, f.name)
            if value is None:
                continue
            if (name == "lr" or name.endswith("_lr") or name.endswith("temperature")) and not value > 0:
                raise ConfigError(f"{name} must be positive, got {value}")
            if name == "weight_decay" and not value >= 0:
                raise ConfigError(f"{name} must be >= 0, got {value}")
            if (name == "dropout" or name.endswith("_dropout")) and not 0 <= value < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {value}")

    def check_memory(self, needed: int, what: str) -> None:
        """Refuse a run whose estimated peak memory ``needed`` (bytes) exceeds the device's
        (the machine's RAM on CPU)."""
        import torch

        device = torch.device(self.device)
        if device.type == "cuda":
            total = torch.cuda.get_device_properties(device).total_memory
        else:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if needed > total:
            raise ConfigError(f"{what} needs about {needed / 2**30:.1f} GiB, more than the "
                              f"{total / 2**30:.1f} GiB of {self.device}; reduce it")

    def check_resume(self, out: Path, run_only: set[str]) -> None:
        """Create ``out`` and write this config to ``out/config.yaml`` (call it holding
        :func:`~graphlottery.files.run_lock`), unless ``out`` holds a run whose config differs in a
        key outside ``run_only`` (keys a resumed run may change): then raise. A key the saved config
        lacks takes its ``LEGACY`` value, else its default. The files named by ``init`` / ``ticket``
        must exist. A folder with files but no
        ``config.yaml`` (another program's, or a run whose config was lost) is refused; one with a
        ``config.yaml`` and nothing else (a start that failed) takes the new config."""
        for name in ("init", "ticket"):  # files a run reads: checked before anything is written
            value = getattr(self, name, None)
            if value is not None and not Path(value).is_file():
                raise ConfigError(f"{name} file {value!r} does not exist")
        out.mkdir(parents=True, exist_ok=True)
        saved = out / "config.yaml"
        files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name not in BOOKKEEPING
                       and p != saved)
        if files and not saved.is_file():
            shown = ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")
            raise ConfigError(f"{str(out)!r} holds files ({shown}) but no config.yaml, so it is no graphlottery run "
                              "to resume; use a new or empty --out")
        if files:
            defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                        for f in dataclasses.fields(self)
                        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
            try:
                written = yaml.safe_load(saved.read_text()) or {}
            except (yaml.YAMLError, UnicodeDecodeError) as err:
                raise ConfigError(f"{str(saved)!r} is damaged (not YAML: {str(err).splitlines()[0]})") from None
            if not isinstance(written, dict):
                raise ConfigError(f"{str(saved)!r} is damaged: it must hold a mapping of config keys")
            try:
                written = self.flatten(written)  # written flat by every version; grouped by hand
            except ConfigError as err:
                raise ConfigError(f"{str(saved)!r} is damaged: {err}") from None
            old = {**defaults, **self.LEGACY, **written}
            new = self.to_dict()
            skip = run_only | self.unread_keys()
            changed = sorted(k for k in new if k not in skip and old.get(k) != new[k])
            if changed:
                older = {k: old[k] for k in changed if k not in written and k in self.LEGACY}
                hint = f" (written before {sorted(older)} existed; that run used {older})" if older else ""
                raise ConfigError(f"{str(out)!r} holds a run with different {changed}{hint}; "
                                  f"use another --out or the same settings")
        write_text(saved, yaml.safe_dump(self.to_dict(), sort_keys=False))


@dataclass
class GLTConfig(Config):
    """Graph lottery ticket search (UGS rounds) for node classification (``task: node``) or link
    prediction (``task: link``: ``link_val`` / ``link_test`` of the edges held out of message
    passing with as many non-edges, split with ``split_seed``, or OGB's own split for ogbl-*
    datasets; the model outputs ``embedding``-wide node embeddings scored by ``decoder``: ``dot``
    (:math:`z_u^\\top z_v`) or ``mlp`` (:class:`~graphlottery.nn.MLPDecoder` on
    :math:`z_u \\odot z_v`, trained, masked and rewound with the model); ``link_metric``: ``roc_auc``
    or ``hits@K``, which ogbl-* datasets need and OGB's Evaluator computes; ``link_val_as_input``:
    score the test pairs with the validation edges added to message passing, as OGB allows for
    ogbl-collab) or graph
    classification (``task: graph`` on a TU or OGB molecule dataset: one edge mask over the union of
    all its graphs, test fold ``fold`` of a stratified 10-fold split for TU; ``model: gin`` is then
    :class:`~graphlottery.nn.GINClassifier`, whose every-layer node embeddings are pooled per graph
    by ``pool`` (``mean`` or ``sum``) and classified by its readout; other models' node outputs are
    pooled as logits). ``graph_mask``: ``free`` (UGS: one trainable score per edge) or ``inductive``
    (an :class:`~graphlottery.masks.EdgeScorer` scores every edge from its endpoints' features, so
    the edges of unseen graphs are ranked by the rule learnt on the training graphs; the shipped
    graph-classification configs use it, because free scores memorise the training graphs; the
    scorer reads each endpoint's features with the means over its ``scorer_hops``-hop
    neighbourhood, :func:`~graphlottery.masks.context_features`; with ``scorer_dim`` set, on
    their first ``scorer_dim`` principal axes, :func:`~graphlottery.masks.principal_components`).

    ``directed`` and ``mask_weight_decay`` default to the value of ``reference``: the original
    code pruned each edge direction on its own and let weight decay shrink the masks. ``init``: an
    encoder checkpoint (e.g. from ``graphlottery graphcl``) whose weights replace the random
    initialisation of the layers it holds; rounds then rewind to them. ``early_bird_window`` > 0
    ends each mask search once the graph and weight masks have settled over that many epochs
    (normalised Hamming distance below ``early_bird_threshold``; graph early-bird tickets).
    ``dense_layers``: module names (e.g. ``[readout]``, a graph classifier's head) whose weights
    are never masked or pruned.

    ``batch_size`` switches node classification and link prediction to mini-batch UGS
    (:class:`~graphlottery.lottery.MiniBatchUGS`: each step trains on the ``num_neighbors``-per-layer
    sampled neighbourhood of ``batch_size`` training nodes, or of the endpoints of ``batch_size``
    training edges and as many random pairs; evaluation on batches of ``eval_batch_size`` nodes
    with ``eval_num_neighbors``, default all). ``num_parts`` (node classification, without
    ``batch_size``) trains on cluster batches instead: the subgraphs induced by a random partition
    of the nodes into that many parts, for deep models (DeeperGCN on ogbn-proteins).
    ``distributed`` runs either on every process of a ``torchrun`` launch
    (:class:`~graphlottery.lottery.DistributedUGS`; ``batch_size`` is per process).

    ``method``: the sparsifier (``ugs``, ``random``, ``teddy``, ``wdglt``, ``dspar``;
    :data:`~graphlottery.sparsifiers.SPARSIFIERS`) with ``method_options``, its own options;
    ``schedule``: ``imp`` (level after level from the previous ticket) or ``one_shot`` (each level
    from the dense model). The UGS keys (``s1``, ``s2``, ``l1``, ...) configure the mask search of
    every method that runs one. A config may be written grouped by concern (``data:``, ``model:``,
    ``task:``, ``method:``, ``schedule:``, ``training:``; :data:`GLT_GROUPS`, :meth:`to_grouped`).
    """

    dataset: str
    task: str = "node"
    model: str = "gcn"
    hidden: int = 512
    embedding: int = 16
    link_val: float = 0.05
    link_test: float = 0.1
    link_metric: str = "roc_auc"
    link_val_as_input: bool = False
    decoder: str = "dot"
    pool: str = "mean"
    fold: int = 0
    graph_mask: str = "free"
    scorer_hops: int = 2
    scorer_dim: int | None = None
    dense_layers: list[str] = field(default_factory=list)
    split_seed: int = 0
    layers: int = 2
    heads: int = 8
    dropout: float | None = None
    norm: str = "batch"
    temperature: float = 1.0
    learn_temperature: bool = True
    mlp_layers: int = 1
    lr: float = 0.01
    weight_decay: float = 5e-4
    s1: float = 1e-2
    s2: float = 1e-2
    mask_epochs: int = 200
    retrain_epochs: int = 200
    rounds: int = 20
    prune_graph: float = 0.05
    prune_weight: float = 0.2
    seeds: list[int] = field(default_factory=lambda: [0])
    random_baseline: bool = True
    reference: bool = False
    directed: bool | None = None
    mask_weight_decay: bool | None = None
    mask_noise: float = 1e-5
    l1: str = "coupled"
    early_bird_window: int = 0
    early_bird_threshold: float = 0.1
    init: str | None = None
    batch_size: int | None = None
    num_neighbors: list[int] = field(default_factory=lambda: [10, 10])
    eval_batch_size: int | None = None
    eval_num_neighbors: list[int] | None = None
    num_parts: int | None = None
    distributed: bool = False
    device: str = "cpu"
    data_root: str | None = None
    method: str = "ugs"
    method_options: dict[str, Any] = field(default_factory=dict)
    schedule: str = "imp"

    # runs written before ``scorer_hops`` existed: their edge scorer read the node features only
    # (runs from before ``method`` / ``method_options`` / ``schedule`` ran their defaults: UGS, IMP)
    LEGACY: ClassVar[dict[str, Any]] = {"scorer_hops": 0}
    GROUPS: ClassVar[dict[str, str]] = GLT_GROUPS
    WRITTEN_AS: ClassVar[dict[str, str]] = WRITTEN_AS

    def unread_keys(self) -> set[str]:
        from graphlottery.sparsifiers import SPARSIFIERS

        unread = set() if self.graph_mask == "inductive" else {"scorer_hops", "scorer_dim"}
        if not SPARSIFIERS[self.method].searches_masks:  # no soft-mask search: its keys do nothing
            unread |= {"s1", "s2", "l1", "mask_epochs", "mask_noise", "mask_weight_decay", "early_bird_window",
                       "early_bird_threshold", "graph_mask"}
        return unread

    def check_model_memory(self, nodes: int, features: int, outputs: int) -> None:
        """Refuse a model that cannot fit: a lower bound of its memory (float32 weights, their mask
        scores, gradients and Adam's two moments, and one layer's node activations) against the device's."""
        width = self.hidden * (self.heads if self.model in ("gat", "pyg.GAT") else 1)
        weights = features * width + max(self.layers - 2, 0) * width * width + width * outputs
        needed = 4 * (5 * weights + nodes * width)
        self.check_memory(needed, f"a {self.model} of hidden {self.hidden} on {nodes} nodes x {features} features")

    def _check_method(self) -> None:
        """The sparsifier ``method`` with its ``method_options`` runs on ``schedule`` and prunes
        what ``prune_graph`` / ``prune_weight`` ask for (:func:`~graphlottery.sparsifiers.check_method`)."""
        from graphlottery.sparsifiers import SPARSIFIERS, check_method

        if not isinstance(self.method, str) or not isinstance(self.schedule, str):
            raise ConfigError(f"method and schedule must be names, got {self.method!r}, {self.schedule!r}")
        if not isinstance(self.method_options, dict) or not all(isinstance(k, str) for k in self.method_options):
            raise ConfigError(f"method_options must be a mapping with string keys, got {self.method_options!r}")
        self.method_options = dict(self.method_options)  # the caller's mapping is left as it was
        if self.method in SPARSIFIERS:  # YAML reads 1e-3 as a string: numbers for numeric options
            for f in dataclasses.fields(SPARSIFIERS[self.method].Options):
                value = self.method_options.get(f.name)
                if isinstance(f.default, float) and isinstance(value, str):
                    try:
                        self.method_options[f.name] = float(value)
                    except ValueError:
                        pass  # check_method names the option
        try:
            check_method(self.method, self.method_options, self.schedule, self.prune_graph > 0, self.prune_weight > 0,
                         task=self.task, full_batch=self.batch_size is None and self.num_parts is None,
                         edge_scorer=self.graph_mask == "inductive")
        except ValueError as err:
            raise ConfigError(str(err)) from None

    def __post_init__(self) -> None:
        from graphlottery.data import DATASETS, TU
        from graphlottery.data.download import tu_name_ok
        from graphlottery.data.ogb import OGBG, OGBL, OGBL_METRIC, OGBN, unknown_ogb
        from graphlottery.nn import MODELS, PYG_MODELS
        from graphlottery.tasks.link import check_link_metric

        graphs = {**TU, **OGBG}
        key = self.dataset.lower()
        if key.startswith(("ogbg-", "ogbn-", "ogbl-")) and key not in {**OGBG, **OGBN, **OGBL}:
            kind = {"ogbg": "graph", "ogbn": "node", "ogbl": "link"}[key[:4]]
            raise ConfigError(str(unknown_ogb(self.dataset, kind, {"graph": OGBG, "node": OGBN, "link": OGBL}[kind])))
        singles = {**DATASETS, **OGBN, **OGBL}
        if key not in {**singles, **graphs} and tu_name_ok(self.dataset):
            if self.task != "graph":
                raise ConfigError(f"unknown dataset {self.dataset!r} for task {self.task!r} (node and link tasks run "
                                  f"on {sorted(singles.values())}); a TUDataset name needs task: graph")
            graphs[key] = self.dataset  # any TUDataset name (case-sensitive): load_tu downloads it or says why not
        self._check(("hidden", "embedding", "layers", "heads", "mask_epochs", "retrain_epochs"),
                    {"model": [*sorted(MODELS), *PYG_MODELS], "l1": ("coupled", "decoupled"),
                     "task": ("node", "link", "graph"), "norm": ("batch", "layer"), "mlp_layers": (1, 2),
                     "decoder": ("dot", "mlp"),
                     "pool": ("mean", "sum"), "graph_mask": ("free", "inductive")},
                    datasets={**DATASETS, **graphs, **OGBN, **OGBL})
        if (self.dataset.lower() in graphs) != (self.task == "graph"):
            raise ConfigError(f"task {self.task!r} does not fit dataset {self.dataset!r}: graph classification "
                              f"runs on {sorted(graphs.values())}, node and link tasks on single graphs")
        if self.dataset.lower() in OGBN and self.task != "node":
            raise ConfigError(f"{self.dataset} runs with task: node (OGB node property prediction), got {self.task!r}")
        if self.dataset.lower() in OGBL and (self.task != "link" or not self.link_metric.startswith("hits@")):
            raise ConfigError(f"{self.dataset} runs with task: link and a Hits@K link_metric scored by OGB's Evaluator "
                              f"(its own: {OGBL_METRIC[self.dataset.lower()]}), got task {self.task!r}, "
                              f"link_metric {self.link_metric!r}")
        if self.link_val_as_input and self.task != "link":
            raise ConfigError("link_val_as_input adds validation edges to message passing for the test pairs of a "
                              f"link task; got task {self.task!r}")
        if self.scorer_hops < 0:
            raise ConfigError(f"scorer_hops must be >= 0, got {self.scorer_hops}")
        if self.scorer_dim is not None and self.scorer_dim < 1:
            raise ConfigError(f"scorer_dim must be >= 1 or null (full width), got {self.scorer_dim}")
        if self.graph_mask == "inductive" and (self.batch_size is not None or self.num_parts is not None):
            raise ConfigError("graph_mask: inductive scores every edge at each step and runs full-batch; "
                              "remove batch_size / num_parts or use graph_mask: free")
        if self.decoder != "dot" and self.task != "link":
            raise ConfigError(f"decoder {self.decoder!r} scores node pairs and needs task: link, got {self.task!r}")
        if self.num_parts is not None:
            if self.task != "node" or self.batch_size is not None or self.num_parts < 1:
                raise ConfigError(f"num_parts (cluster batches, >= 1) trains node classification without batch_size, "
                                  f"got num_parts {self.num_parts}, task {self.task!r}, batch_size {self.batch_size}")
        elif self.distributed and self.batch_size is None:
            raise ConfigError("distributed runs are mini-batch: set batch_size (training nodes or edges per step "
                              "and process) or num_parts")
        if self.batch_size is not None:
            if self.task == "graph":
                raise ConfigError("mini-batch UGS (batch_size) trains node classification and link prediction; "
                                  "graph classification runs full-batch on the union of the graphs")
            for key in ("num_neighbors", "eval_num_neighbors"):
                fanouts = getattr(self, key)
                if fanouts is not None and len(fanouts) != self.layers:
                    raise ConfigError(f"{key} needs one fan-out per layer ({self.layers}), got {fanouts}")
        if not 0 <= self.fold < 10:
            raise ConfigError(f"fold must be in 0..9 (10-fold cross-validation), got {self.fold}")
        try:
            check_link_metric(self.link_metric)
        except ValueError as err:
            raise ConfigError(f"link_{err}") from None
        if not (0 < self.link_val < 1 and 0 < self.link_test < 1 and self.link_val + self.link_test < 1):
            raise ConfigError(f"link_val and link_test must be fractions that sum below 1, got {self.link_val}, "
                              f"{self.link_test}")
        if self.layers < 2:
            raise ConfigError(f"layers must be at least 2, got {self.layers}")
        if self.rounds < 0:
            raise ConfigError(f"rounds must be >= 0, got {self.rounds}")
        if self.early_bird_window == 1 or self.early_bird_window < 0 or not 0 <= self.early_bird_threshold <= 1:
            raise ConfigError("early_bird_window must be 0 (off) or at least 2, and early_bird_threshold in [0, 1]; "
                              f"got {self.early_bird_window}, {self.early_bird_threshold}")
        for name in ("s1", "s2", "mask_noise"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("prune_graph", "prune_weight"):
            try:
                check_fraction(getattr(self, name), name)
            except ValueError as err:
                raise ConfigError(str(err)) from None
        self._check_method()
        if self.directed is None:
            self.directed = self.reference
        if self.mask_weight_decay is None:
            self.mask_weight_decay = self.reference
