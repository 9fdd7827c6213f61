"""Everything a user can get wrong fails before the output folder is written, as one
``graphlottery: error: ...`` line; foreign folders are refused; Ctrl-C exits 130."""
import json
import sys

import pytest

from graphlottery.cli import main

TINY = "dataset: Cora\nhidden: 16\nmask_epochs: 2\nretrain_epochs: 2\nrounds: 0\nrandom_baseline: false\n"


def run(capsys, tmp_path, text, *extra, out="run"):
    """``graphlottery glt`` on config ``text``; returns (exit code, stderr lines)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    code = main(["glt", str(cfg), "--out", str(tmp_path / out), "--quiet", *extra])
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


def one_error(code, lines, *words):
    assert code == 2 and len(lines) == 1 and lines[0].startswith("graphlottery: error: "), lines
    assert all(w in lines[0] for w in words), lines[0]


@pytest.mark.parametrize("line, words", [
    ("lr: -0.01", ["lr must be positive"]),
    ("lr: .nan", ["'lr' must be float (finite)"]),
    ("lr: .inf", ["'lr' must be float (finite)"]),
    ("weight_decay: -1", ["weight_decay must be >= 0"]),
    ("dropout: 1.5", ["dropout must be in [0, 1)"]),
    ("seeds: [1180591620717411303424]", ["seeds must be integers in [0, 4294967295]"]),
    ("init: missing/encoder.pt", ["init file", "missing/encoder.pt", "does not exist"]),
    ("hidden: 1000000000000", ["GiB", "hidden 1000000000000"]),
    ("s1: -1", ["s1 must be >= 0"]),
])
def test_bad_values_fail_before_the_folder_is_written(capsys, tmp_path, line, words):
    one_error(*run(capsys, tmp_path, TINY.replace("hidden: 16\n", "") + line + "\n"
                   if line.startswith("hidden") else TINY + line + "\n"), *words)
    written = [p.name for p in (tmp_path / "run").rglob("*")] if (tmp_path / "run").exists() else []
    assert "config.yaml" not in written
    assert run(capsys, tmp_path, TINY)[0] == 0  # the corrected command runs in the same folder


def test_a_folder_with_run_files_but_no_config_is_refused(capsys, tmp_path):
    out = tmp_path / "run"
    (out / "seed_0").mkdir(parents=True)
    (out / "seed_0" / "history.json").write_text("[]")
    one_error(*run(capsys, tmp_path, TINY), "no config.yaml", "seed_0/history.json")
    (out / "seed_0" / "history.json").unlink()
    (out / "results.json").write_text('{"foreign": true}')
    one_error(*run(capsys, tmp_path, TINY), "no config.yaml", "results.json")
    assert json.loads((out / "results.json").read_text()) == {"foreign": True}  # not overwritten


def test_damaged_run_files_are_one_line_naming_the_file(capsys, tmp_path):
    assert run(capsys, tmp_path, TINY)[0] == 0
    history = tmp_path / "run" / "seed_0" / "history.json"
    for content in ("{}", "[{"):
        history.write_text(content)
        one_error(*run(capsys, tmp_path, TINY, "--rounds", "1"), "history.json", "damaged")
    (tmp_path / "run" / "config.yaml").write_text("dataset: [Cora\n")
    one_error(*run(capsys, tmp_path, TINY), "config.yaml", "damaged")


def test_out_that_is_a_file_is_one_line(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    one_error(*run(capsys, tmp_path, TINY, out="file"), "file", "is a file")
    one_error(*run(capsys, tmp_path, TINY, out="file/run"), "file/run", "is a file")


def test_a_resumed_run_says_so(capsys, tmp_path):
    assert run(capsys, tmp_path, TINY)[0] == 0
    code, lines = run(capsys, tmp_path, TINY, "--rounds", "1")
    assert code == 0 and "resuming seed 0 after round 0" in lines


def test_ctrl_c_exits_130_with_one_line(capsys, tmp_path, monkeypatch):
    import graphlottery.lottery.glt as glt

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(glt, "run_glt", interrupted)
    code, lines = run(capsys, tmp_path, TINY)
    assert code == 130 and lines == ["graphlottery: interrupted; rerun the same command to resume"]


def test_a_missing_optional_dependency_names_the_extra(capsys, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "ogb" or m.startswith("ogb.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ogb", None)  # as if not installed
    code, lines = run(capsys, tmp_path, "dataset: ogbg-molbace\ntask: graph\nmodel: gin\nhidden: 16\nrounds: 0\n")
    one_error(code, lines, "pip install 'graphlottery[ogb]'")
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_a_damaged_trained_weights_file_is_one_line(capsys, tmp_path):
    cfg = tmp_path / "imp.yaml"
    cfg.write_text("dataset: digits\nwidth: 4\nepochs: 1\nrounds: 1\nbaselines: []\n")
    out = tmp_path / "imp"
    assert main(["imp", str(cfg), "--out", str(out), "--quiet"]) == 0
    trained = out / "seed_0" / "trained_01.pt"
    trained.write_bytes(trained.read_bytes()[:300])
    capsys.readouterr()
    code = main(["imp", str(cfg), "--out", str(out), "--quiet", "--rounds", "2"])
    one_error(code, [x for x in capsys.readouterr().err.splitlines() if x.startswith("graphlottery")],
              "trained_01.pt")
