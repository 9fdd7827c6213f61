"""GLT configs written grouped by concern (``data:``, ``model:``, ...) as well as flat."""
import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from graphlottery.bundled import CONFIG_DIR, GROUPS
from graphlottery.config import GLT_GROUPS, WRITTEN_AS, ConfigError, GLTConfig

DOCS = Path(__file__).parents[1] / "docs" / "configs.md"

FLAT = """\
dataset: Cora
split_seed: 3
model: gat
hidden: 8
heads: 8
dropout: 0.6
task: node
method: wdglt
wd_weight: 0.2
s1: 1.0e-7
l1: decoupled
early_bird_window: 5
schedule: one_shot
rounds: 3
prune_graph: 0.1
prune_weight: 0.3
random_baseline: false
lr: 0.005
mask_epochs: 20
retrain_epochs: 30
seeds: [0, 1]
"""

GROUPED = """\
data:
  dataset: Cora
  split_seed: 3
model:
  name: gat
  hidden: 8
  heads: 8
  dropout: 0.6
task:
  name: node
method:
  name: wdglt
  wd_weight: 0.2
  s1: 1e-7
  l1: decoupled
  early_bird_window: 5
schedule:
  name: one_shot
  rounds: 3
  prune_graph: 0.1
  prune_weight: 0.3
  random_baseline: false
training:
  lr: 0.005
  mask_epochs: 20
  retrain_epochs: 30
  seeds: [0, 1]
"""


def _glt_configs() -> list[Path]:
    return sorted(p for p in CONFIG_DIR.glob("*/*.yaml") if GROUPS[p.parent.name][0] == "glt")


def test_table_covers_every_key_once():
    assert set(GLT_GROUPS) == {f.name for f in dataclasses.fields(GLTConfig)}
    assert set(GLT_GROUPS.values()) == {"data", "model", "task", "method", "schedule", "training"}
    for key, written in WRITTEN_AS.items():
        assert written == "options" or written == "name" and GLT_GROUPS[key] == key


def test_grouped_yaml_equals_the_flat_one(tmp_path):
    (tmp_path / "flat.yaml").write_text(FLAT.replace("wd_weight: 0.2\n", "method_options: {wd_weight: 0.2}\n"))
    (tmp_path / "grouped.yaml").write_text(GROUPED)
    flat = GLTConfig.from_yaml(tmp_path / "flat.yaml")
    grouped = GLTConfig.from_yaml(tmp_path / "grouped.yaml")
    assert grouped.to_dict() == flat.to_dict()
    assert (grouped.method, grouped.method_options, grouped.schedule) == ("wdglt", {"wd_weight": 0.2}, "one_shot")
    assert (grouped.s1, grouped.heads, grouped.seeds, grouped.split_seed) == (1e-7, 8, [0, 1], 3)  # 1e-7: a string
    assert list(grouped.to_dict()) == [f.name for f in dataclasses.fields(GLTConfig)]  # to_dict stays flat
    # overrides (the command's --seeds, --rounds) replace a key given in a section
    assert GLTConfig.from_yaml(tmp_path / "grouped.yaml", seeds=[7], rounds=1).seeds == [7]
    # flat and grouped keys mix as long as each key is given once
    mixed = yaml.safe_load(GROUPED)
    mixed["lr"] = mixed["training"].pop("lr")
    mixed.update(mixed.pop("model"))
    mixed["model"] = mixed.pop("name")  # ``model: gat`` is the flat key
    assert GLTConfig.from_dict(mixed) == flat


def test_to_grouped_reads_back_for_every_bundled_config():
    for path in _glt_configs():
        config = GLTConfig.from_yaml(path)
        grouped = config.to_grouped()
        assert list(grouped) == ["data", "model", "task", "method", "schedule", "training"]
        assert grouped["model"]["name"] == config.model and grouped["data"]["dataset"] == config.dataset
        assert sum(len(v) for v in grouped.values()) == len(GLT_GROUPS) - 1  # method_options: in method
        assert GLTConfig.from_dict(yaml.safe_load(yaml.safe_dump(grouped))) == config, path.name
    teddy = GLTConfig(dataset="Cora", method="teddy", method_options={"distill": 0.2, "reference": True},
                      schedule="one_shot")
    method = teddy.to_grouped()["method"]
    assert method["name"] == "teddy" and method["distill"] == 0.2
    assert method["options"] == {"reference": True} and method["reference"] is False  # the trainer's own
    assert GLTConfig.from_dict(teddy.to_grouped()) == teddy
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['reference'\] of method 'ugs'"):
        GLTConfig(dataset="Cora", method_options={"reference": True})  # UGS's reference is the trainer's key


def test_every_bundled_config_still_loads():
    from graphlottery.coldbrew.run import ColdBrewConfig
    from graphlottery.contrastive.run import GraphCLConfig
    from graphlottery.lottery.imp import IMPConfig

    classes = {"glt": GLTConfig, "coldbrew": ColdBrewConfig, "graphcl": GraphCLConfig, "imp": IMPConfig}
    paths = sorted(CONFIG_DIR.glob("*/*.yaml"))
    assert len(paths) > 30
    for path in paths:
        config = classes[GROUPS[path.parent.name][0]].from_yaml(path)
        if isinstance(config, GLTConfig):  # the flat form, as written, with the defaults of the new keys
            written = yaml.safe_load(path.read_text())
            for key, value in written.items():  # YAML reads 1e-3 as a string
                loaded = config.to_dict()[key]
                assert loaded == value or isinstance(loaded, float) and loaded == float(value), key
            assert (config.method, config.method_options, config.schedule) == ("ugs", {}, "imp")


def _old_run(folder: Path, config: GLTConfig) -> None:
    """A run folder as written before ``method`` / ``method_options`` / ``schedule`` existed."""
    old = {k: v for k, v in config.to_dict().items() if k not in ("method", "method_options", "schedule")}
    (folder / "config.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    (folder / "seed_0").mkdir(exist_ok=True)  # a run with a finished round, not just a failed start
    (folder / "seed_0" / "history.json").write_text("[{}]")


def test_old_flat_run_folders_resume(tmp_path):
    from graphlottery.lottery.glt import RUN_ONLY

    config = GLTConfig.from_yaml(CONFIG_DIR / "glt" / "cora_gat.yaml")
    _old_run(tmp_path, config)
    config.check_resume(tmp_path, RUN_ONLY)  # the defaults ugs / {} / imp are what the old run did
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert (saved["method"], saved["method_options"], saved["schedule"]) == ("ugs", {}, "imp")
    assert "model" in saved and "data" not in saved  # written flat, for older code
    GLTConfig.from_dict(config.to_grouped()).check_resume(tmp_path, RUN_ONLY)  # the same run, written grouped
    for changed in ({"method": "random"}, {"schedule": "one_shot"}):
        with pytest.raises(ConfigError, match=f"different \\['{next(iter(changed))}'\\]"):
            dataclasses.replace(config, **changed).check_resume(tmp_path, RUN_ONLY)


def test_a_changed_method_option_is_refused_on_resume(tmp_path):
    from graphlottery.lottery.glt import RUN_ONLY

    def teddy(**options):
        return GLTConfig(dataset="Cora", method="teddy", method_options=options, schedule="one_shot")

    teddy(distill=0.2).check_resume(tmp_path, RUN_ONLY)
    (tmp_path / "seed_0").mkdir()
    (tmp_path / "seed_0" / "history.json").write_text("[{}]")
    teddy(distill=0.2).check_resume(tmp_path, RUN_ONLY)  # a dict-valued key read back equal
    with pytest.raises(ConfigError, match=r"different \['method_options'\]"):
        teddy(distill=0.3).check_resume(tmp_path, RUN_ONLY)
    with pytest.raises(ConfigError, match=r"different \['method_options'\]"):
        teddy().check_resume(tmp_path, RUN_ONLY)


@pytest.mark.parametrize("values, key, where", [
    ({"dataset": "Cora", "lr": 0.1, "training": {"lr": 0.2}}, "lr", "both at the top level and in section 'training'"),
    ({"dataset": "Cora", "model": {"lr": 0.1}}, "lr", "belongs in section 'training', not in section 'model'"),
    ({"data": {"dataset": "Cora", "name": "gat"}}, "name", "in section 'data'"),
    ({"dataset": "Cora", "model": {"hiden": 8}}, "hiden", "unknown config key 'hiden' in section 'model'"),
    ({"dataset": "Cora", "method": {"s3": 0.1}}, "s3", "section 'method'.*no options of its own"),
    ({"dataset": "Cora", "training": {"method": "teddy"}}, "method", "section 'method' \\(as 'name'\\)"),
    ({"dataset": "Cora", "model": {"model": "gat"}}, "model", "written 'name' in section 'model'"),
    ({"dataset": "Cora", "training": [0.1]}, "training", "must be a mapping"),
    ({"dataset": "Cora", "method": {"name": "teddy", "distill": 0.1, "options": {"distill": 0.2}},
      "schedule": "one_shot"}, "distill", "both in section 'method' and in its 'options'"),
    ({"dataset": "Cora", "method": "magic"}, "magic", "unknown method.*ugs"),
    ({"dataset": "Cora", "method": {"name": "teddy", "distil": 0.2}, "schedule": "one_shot"}, "distil",
     "unknown option.*of method 'teddy'"),
    ({"dataset": "Cora", "method": "teddy"}, "imp", "schedule.*one_shot"),  # teddy is one-shot only
    ({"dataset": "Cora", "schedule": "sometimes"}, "sometimes", "unknown schedule"),
    ({"dataset": "Cora", "method": "dspar", "schedule": "one_shot"}, "prune_weight", "prunes only the graph"),
    ({"dataset": "Cora", "method_options": ["distill"]}, "method_options", "mapping with string keys"),
    ({"dataset": "Cora", "method_options": {1: 0.2}}, "method_options", "mapping with string keys"),
    ({"dataset": "Cora", "prune_graph": 1.0}, "prune_graph", r"\[0, 1\)"),
    ({"dataset": "Cora", "schedule": {"prune_weight": -0.1}}, "prune_weight", r"\[0, 1\)"),
])
def test_bad_configs_are_one_error_naming_the_key(values, key, where):
    with pytest.raises(ConfigError) as caught:
        GLTConfig.from_dict(values)
    message = str(caught.value)
    assert "\n" not in message and key in message and re.search(where, message), message


def test_bad_method_is_refused_before_anything_is_written(tmp_path, capsys):
    from graphlottery.cli import main

    path = tmp_path / "dspar.yaml"
    path.write_text("data: {dataset: Cora}\nmethod: {name: dspar}\nschedule: {name: one_shot, prune_weight: 0.2}\n")
    assert main(["glt", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert not (tmp_path / "run").exists()
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "prune_weight" in err and "dspar" in err


def test_method_options_reach_the_config(tmp_path):
    path = tmp_path / "teddy.yaml"
    path.write_text("data: {dataset: Cora}\nmethod: {name: teddy, distill: 0.2}\nschedule: {name: one_shot}\n")
    teddy = GLTConfig.from_yaml(path)
    assert (teddy.method, teddy.method_options, teddy.schedule) == ("teddy", {"distill": 0.2}, "one_shot")
    # YAML reads 1e-3 as a string: a numeric option takes it as a number, in either form
    assert GLTConfig.from_dict({"dataset": "Cora", "method": "teddy", "method_options": {"distill": "1e-3"},
                                "schedule": "one_shot"}).method_options == {"distill": 1e-3}
    options = {"distill": 0.5}
    GLTConfig(dataset="Cora", method="teddy", method_options=options, schedule="one_shot").method_options["x"] = 1
    assert options == {"distill": 0.5}  # the caller's mapping is not the config's
    dspar = GLTConfig.from_dict({"dataset": "Cora", "method": {"name": "dspar", "reweight": False},
                                 "schedule": {"name": "one_shot", "prune_weight": 0}})
    assert dspar.method_options == {"reweight": False} and dspar.prune_weight == 0
    # UGS trainer keys configure the mask search of every method; they stay flat keys
    wdglt = GLTConfig.from_dict({"dataset": "Cora", "method": {"name": "wdglt", "s1": 0.1, "points": 64}})
    assert wdglt.s1 == 0.1 and wdglt.method_options == {"points": 64}


def _docs_table() -> dict[str, str]:
    """The docs' table of sections: flat key -> section."""
    found = {}
    for line in DOCS.read_text().splitlines():
        match = re.match(r"\| `(\w+):` \|(.*)\|(.*)\|$", line)
        if match:
            for key in re.findall(r"`(\w+)`", match.group(3)):
                assert key not in found, f"{key} listed twice in {DOCS.name}"
                found[key] = match.group(1)
            for key, written in re.findall(r"`(\w+)` \(as `(\w+)`\)", match.group(2)):  # under another name
                assert key not in found and WRITTEN_AS[key] == written, key
                found[key] = match.group(1)
    return found


def test_docs_list_the_section_of_every_key():
    assert _docs_table() == GLT_GROUPS
    text = DOCS.read_text()
    example = re.search(r"```yaml\n(data:.*?)```", text, re.S).group(1)
    config = GLTConfig.from_dict(yaml.safe_load(example))
    assert config.method_options and config.schedule == "one_shot"


def test_docs_list_each_methods_schedules_and_options():
    from graphlottery.sparsifiers import SPARSIFIERS

    rows = re.findall(r"^\| `(\w+)` \| (.*?) \| (.*?) \| (.*?) \|$", DOCS.read_text(), re.M)
    methods = {name: (schedules, prunes, options) for name, schedules, prunes, options in rows if name in SPARSIFIERS}
    assert set(methods) == set(SPARSIFIERS)
    for name, (schedules, prunes, options) in methods.items():
        cls = SPARSIFIERS[name]
        assert set(re.findall(r"`(\w+)`", schedules)) == set(cls.schedules), name
        assert ("weights" in prunes) == ("weights" in cls.prunes), name
        assert set(re.findall(r"`(\w+)`", options)) == {f.name for f in dataclasses.fields(cls.Options)}, name
