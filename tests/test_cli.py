"""The command: bundled configs, start-up without heavy imports, summary and compare of real runs."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from graphlottery.bundled import CONFIG_DIR, GROUPS, ConfigNotFound, bundled_configs, resolve_config
from graphlottery.cli import main
from graphlottery.compare import compare_table, plot_compare, read_run, summary_table

HEAVY = ("torch", "torch_geometric", "matplotlib", "numpy", "scipy", "sklearn", "ogb")


def test_help_version_and_config_errors_import_nothing_heavy():
    """Beyond what ``import graphlottery`` itself imports, parsing, --help, --version, the config
    listing and a config that does not exist import no torch, PyG, numpy or matplotlib."""
    code = f"""
import sys, graphlottery
before = set(sys.modules)
from graphlottery.cli import main
for argv in (["--help"], ["--version"], ["glt", "--help"], ["watermark", "embed", "--help"]):
    try:
        main(argv)
    except SystemExit as stop:
        assert stop.code == 0, argv
assert main(["glt", "no_such_config"]) == 2
assert main(["configs"]) == 0
assert main(["summary", "no_such_run"]) == 2
heavy = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in {HEAVY!r})
assert not heavy, heavy
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "no bundled config" in done.stderr or "neither a file nor a bundled config" in done.stderr


def test_python_m_graphlottery_version():
    done = subprocess.run([sys.executable, "-m", "graphlottery", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip().startswith("graphlottery ")


def test_every_bundled_config_is_listed_and_loads():
    from graphlottery.coldbrew.run import ColdBrewConfig
    from graphlottery.config import GLTConfig
    from graphlottery.contrastive.run import GraphCLConfig
    from graphlottery.lottery.imp import IMPConfig

    classes = {"glt": GLTConfig, "coldbrew": ColdBrewConfig, "graphcl": GraphCLConfig, "imp": IMPConfig}
    configs = bundled_configs()
    assert len(configs) == len(list(CONFIG_DIR.glob("*/*.yaml"))) > 30
    for config in configs:
        values = yaml.safe_load(config.path.read_text())
        assert config.dataset == values["dataset"] and config.summary
        values.pop("init", None)  # a pre-trained encoder the config names; it exists once its GraphCL run did
        assert classes[GROUPS[config.name.split("/")[0]][0]].from_dict(values).dataset == values["dataset"]


def test_configs_command_prints_one_line_per_config(capsys):
    assert main(["configs", "linkpred"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("linkpred/")]
    assert len(lines) == len(list((CONFIG_DIR / "linkpred").glob("*.yaml")))
    cora = next(line for line in lines if line.startswith("linkpred/cora_gcn "))
    assert cora.split()[1:4] == ["glt", "Cora", "gcn"] and "link prediction" in cora


def test_resolve_config_names_groups_and_paths(tmp_path):
    assert resolve_config("cora_gcn", "glt") == CONFIG_DIR / "glt" / "cora_gcn.yaml"
    assert resolve_config("linkpred/cora_gcn", "glt") == CONFIG_DIR / "linkpred" / "cora_gcn.yaml"
    assert resolve_config("mutag_gin.yaml", "glt") == CONFIG_DIR / "graphcls" / "mutag_gin.yaml"
    assert resolve_config("cora", "coldbrew") == CONFIG_DIR / "coldbrew" / "cora.yaml"
    own = tmp_path / "cora_gcn"
    own.write_text("dataset: Cora\n")
    assert resolve_config(own, "glt") == own  # a file wins over a bundled name
    with pytest.raises(ConfigNotFound, match="ambiguous: coldbrew/cora, graphcl/cora"):
        resolve_config("cora")
    with pytest.raises(ConfigNotFound, match="neither a file nor a bundled config"):
        resolve_config("digits_resnet", "glt")  # an IMP config is not a glt config
    with pytest.raises(ConfigNotFound, match="neither a file"):
        resolve_config(tmp_path / "missing.yaml", "glt")


def test_init_copies_a_bundled_config_and_keeps_existing_files(tmp_path, capsys):
    dest = tmp_path / "mine.yaml"
    assert main(["init", "linkpred/cora_gcn", str(dest)]) == 0
    assert dest.read_text() == (CONFIG_DIR / "linkpred" / "cora_gcn.yaml").read_text()
    assert f"graphlottery glt {dest}" in capsys.readouterr().out
    dest.write_text("dataset: CiteSeer\n")
    assert main(["init", "cora_gcn", str(dest)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert dest.read_text() == "dataset: CiteSeer\n"
    assert main(["init", "cora_gcn", str(tmp_path)]) == 0  # a folder: <name>.yaml inside it
    assert (tmp_path / "cora_gcn.yaml").read_text() == (CONFIG_DIR / "glt" / "cora_gcn.yaml").read_text()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished GLT runs on Cora (GCN over two seeds, GIN over one), started by config name."""
    base = tmp_path_factory.mktemp("runs")
    common = ["--rounds", "2", "--epochs", "3", "--quiet"]
    assert main(["glt", "cora_gcn", "--out", str(base / "gcn"), "--seeds", "0", "1", *common]) == 0
    assert main(["glt", "cora_gin", "--out", str(base / "gin"), "--seeds", "0", "--no-baseline", *common]) == 0
    return [read_run(base / "gcn"), read_run(base / "gin")]


def test_summary_reprints_the_run_table(runs, capsys):
    from graphlottery.lottery.glt import format_table

    assert main(["summary", str(runs[0].path)]) == 0
    assert capsys.readouterr().out.strip() == format_table(runs[0].results) == summary_table(runs[0])


def test_compare_table_holds_every_round_of_every_run(runs):
    table = compare_table(runs).splitlines()
    assert table[0].startswith("[1] ") and "Cora, GCN, accuracy, seeds 0, 1" in table[0]
    assert "Cora, GIN, accuracy, seed 0, 3 mask search + 3 retraining epochs" in table[1]
    rows = [line.split() for line in table[3:]]
    assert len(rows) == 6
    for row, (i, r) in zip(rows, [(i, r) for i, run in enumerate(runs, 1) for r in run.results["rounds"]]):
        assert int(row[0]) == i and int(row[1]) == r["round"]
        assert float(row[4]) == pytest.approx(r["test"], abs=5e-5)
        assert float(row[5]) == pytest.approx(r["test_std"], abs=5e-5)
    assert rows[1][6] != "-" and rows[4][6] == "-"  # the GIN run has no random baseline


def test_compare_plot_states_dataset_model_metric_seeds_epochs(runs, tmp_path, monkeypatch):
    import graphlottery.files as files

    texts = []
    save = files.save_figure

    def record(fig, path):
        ax = fig.axes[0]
        texts.extend([ax.get_title(), ax.get_ylabel(), *[t.get_text() for t in ax.get_legend().get_texts()]])
        return save(fig, path)

    monkeypatch.setattr(files, "save_figure", record)
    out = plot_compare(runs, tmp_path / "sub" / "both.png", x="graph", random=True)
    assert out.is_file() and out.stat().st_size > 10_000
    title, ylabel, *legend = texts
    assert "Cora" in title and "accuracy" in title and "3 mask search + 3 retraining epochs" in title
    assert "accuracy" in ylabel
    assert legend[0] == "gcn (GCN, seeds 0, 1)" and legend[1] == "gcn: random" and legend[2] == "gin (GIN, seed 0)"


def test_compare_refuses_runs_it_cannot_overlay(runs, tmp_path, capsys):
    other = tmp_path / "auc"
    other.mkdir()
    results = dict(runs[1].results, metric="roc_auc")
    (other / "results.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match="different metrics"):
        compare_table([runs[0], read_run(other)])
    cl = tmp_path / "cl"
    cl.mkdir()
    (cl / "results.json").write_text(json.dumps({"dataset": "MUTAG", "accuracy_mean": 0.8, "accuracy_std": 0.0,
                                                 "seeds": [0], "per_seed": [0.8]}))
    assert main(["compare", str(runs[0].path), str(cl), "--out", str(tmp_path / "x.png")]) == 2
    assert "graphcl run, which has no pruning curve" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
    (cl / "results.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_run(cl)


def test_default_out_is_runs_slash_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--rounds", "1", "--epochs", "1", "--seeds", "0", "--no-baseline", "--quiet"]
    assert main(["glt", "linkpred/cora_gcn", *args]) == 0
    assert (Path("runs") / "linkpred_cora_gcn" / "results.json").is_file()
