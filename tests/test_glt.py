"""Short real GLT runs on Cora: accuracy, exact sparsity, determinism and resume."""
import json

import pytest
import torch

from graphlottery import GCN, UGS, ConfigError, GLTConfig, run_glt
from graphlottery.cli import main
from graphlottery.lottery import ugs as ugs_module


def config(**kw):
    base = dict(dataset="Cora", model="gcn", lr=0.008, weight_decay=8e-5, s1=1e-2, s2=1e-2,
                mask_epochs=40, retrain_epochs=60, rounds=2, seeds=[0])
    base.update(kw)
    return GLTConfig.from_dict(base)


def rounds_without_time(results):
    skip = {"seconds", "inference_ms", "per_seed"}
    return [{k: v for k, v in r.items() if k not in skip} for r in results["rounds"]]


def test_short_glt_run_reaches_accuracy_and_exact_sparsity(tmp_path, device):
    results = run_glt(config(device=str(device)), tmp_path, progress=False)
    rounds = results["rounds"]
    assert rounds[0]["test"] >= 0.79  # a dense GCN-512 on Cora
    assert all(r["test"] >= rounds[0]["test"] - 0.03 for r in rounds)
    # 5% of 5278 undirected edges, 20% of all weights, per round, exactly
    assert rounds[1]["graph_sparsity"] == pytest.approx(round(0.05 * 5278) / 5278)
    assert rounds[2]["graph_sparsity"] == pytest.approx((264 + round(0.05 * 5014)) / 5278)
    total = 1433 * 512 + 512 * 7
    first = round(0.2 * total)
    assert rounds[2]["weight_sparsity"] == pytest.approx((first + round(0.2 * (total - first))) / total)
    assert rounds[2]["macs"] < rounds[1]["macs"] < rounds[0]["macs"]
    assert "random_test" in rounds[1]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["dataset"] == "Cora" and saved["metric"] == "accuracy" and len(saved["rounds"]) == 3
    assert (tmp_path / "curve.png").stat().st_size > 1000
    tickets = sorted(p.name for p in (tmp_path / "seed_0").glob("round_*.pt"))
    assert tickets == ["round_00.pt", "round_01.pt", "round_02.pt"]


def test_resume_after_interruption_loses_nothing(tmp_path, monkeypatch):
    cfg = config(rounds=3, mask_epochs=15, retrain_epochs=15, random_baseline=False)
    straight = run_glt(cfg, tmp_path / "straight", progress=False)

    calls = {"n": 0}
    original = ugs_module.UGS.step

    def dying_step(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed mid-run")
        return original(self)

    monkeypatch.setattr(ugs_module.UGS, "step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        run_glt(cfg, tmp_path / "resumed", progress=False)
    history = json.loads((tmp_path / "resumed" / "seed_0" / "history.json").read_text())
    assert [r["round"] for r in history] == [0, 1]
    monkeypatch.setattr(ugs_module.UGS, "step", original)
    resumed = run_glt(cfg, tmp_path / "resumed", progress=False)
    assert rounds_without_time(resumed) == rounds_without_time(straight)


def test_resume_refuses_a_different_config(tmp_path):
    run_glt(config(rounds=0, retrain_epochs=5), tmp_path, progress=False)
    from graphlottery import ConfigError

    with pytest.raises(ConfigError, match="different"):
        run_glt(config(rounds=0, retrain_epochs=5, lr=0.1), tmp_path, progress=False)


def test_python_api_on_a_plain_pyg_model(cora):
    from torch_geometric.nn.models import GCN as PyGGCN

    torch.manual_seed(0)
    model = PyGGCN(cora.num_features, 64, 2, 7)
    ugs = UGS(model, cora, mask_epochs=20, retrain_epochs=30, lr=0.01)
    dense = ugs.dense()
    record = ugs.step()
    assert dense["test"] > 0.7
    assert record["weight_sparsity"] == pytest.approx(0.2, abs=1e-4)
    assert record["graph_sparsity"] == pytest.approx(264 / 5278)
    assert set(model.state_dict()) == set(PyGGCN(cora.num_features, 64, 2, 7).state_dict())


def test_determinism_under_a_seed(cora):
    def run():
        torch.manual_seed(1)
        ugs = UGS(GCN(cora.num_features, 64, 2, 7), cora, mask_epochs=10, retrain_epochs=10, seed=1)
        return ugs.step(), ugs.masks.hard_dict(), ugs.graph.keep.clone()

    (a, ma, ka), (b, mb, kb) = run(), run()
    assert (a["val"], a["test"]) == (b["val"], b["test"])
    assert all(torch.equal(ma[n], mb[n]) for n in ma) and torch.equal(ka, kb)


def test_cli_runs_and_reports_bad_config(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: Cora\nmodel: gcn\nhidden: 32\n")
    assert main(["glt", str(cfg), "--out", str(tmp_path / "run"), "--rounds", "1", "--epochs", "5",
                 "--seeds", "0", "1", "--quiet"]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["seeds"] == [0, 1] and len(results["rounds"][1]["per_seed"]) == 2
    assert "round" in capsys.readouterr().out
    cfg.write_text("dataset: Cora\nhiden: 32\n")
    assert main(["glt", str(cfg), "--out", str(tmp_path / "bad")]) == 2
    assert "unknown config key" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["gin", "gat", "sage"])
def test_one_round_for_every_model(cora, name, device):
    from graphlottery.nn import MODELS

    torch.manual_seed(0)
    kwargs = {"heads": 2} if name == "gat" else {}
    model = MODELS[name](cora.num_features, 32, 2, 7, **kwargs)
    ugs = UGS(model, cora, mask_epochs=15, retrain_epochs=40, lr=0.01, s1=1e-3, s2=1e-3, device=device)
    record = ugs.step()
    assert record["test"] > 0.6
    assert record["graph_sparsity"] == pytest.approx(264 / 5278)
    assert record["weight_sparsity"] == pytest.approx(0.2, abs=1e-4)


def test_reference_mode_prunes_directed_edges(cora):
    torch.manual_seed(0)
    ugs = UGS(GCN(cora.num_features, 16, 2, 7), cora, directed=True, mask_weight_decay=True,
              mask_epochs=5, retrain_epochs=5)
    assert ugs.graph.num_units == 10556
    ugs.step()
    assert int((~ugs.graph.keep).sum()) == round(0.05 * 10556)
    src, dst = cora.edge_index
    keys = src * cora.num_nodes + dst
    order = keys.argsort()
    reverse = order[torch.searchsorted(keys[order], dst * cora.num_nodes + src)]
    mask = ugs.graph.edge_mask()
    assert bool((mask != mask[reverse]).any())  # some edge kept in one direction only


def test_l1_modes_move_masks_as_documented(cora):
    """Coupled (UGS): Adam normalises the L1 sub-gradient, so every mask whose gradient keeps
    one sign moves by exactly lr per step and they all tie. Decoupled: only masks with no task
    gradient at all (outside the training nodes' receptive field) move by exactly lr * s1."""
    shares = {}
    for l1, step in (("coupled", 0.01), ("decoupled", 0.01 * 1e-2)):
        torch.manual_seed(0)
        ugs = UGS(GCN(cora.num_features, 16, 2, 7), cora, mask_epochs=10, lr=0.01, s1=1e-2, l1=l1, mask_noise=0.0)
        edge_scores, _ = ugs.search_masks()
        untouched = 1.0 - (ugs.search_result["epoch"] + 1) * step
        shares[l1] = float(((edge_scores - untouched).abs() < 1e-6).float().mean())
    assert shares["coupled"] > 0.6
    assert 0.05 < shares["decoupled"] < 0.4
    with pytest.raises(ValueError, match="coupled"):
        UGS(GCN(cora.num_features, 16, 2, 7), cora, l1="sideways")


def test_early_bird_ends_the_mask_search_once_both_masks_settle(cora):
    torch.manual_seed(0)
    ugs = UGS(GCN(cora.num_features, 64, 2, 7), cora, mask_epochs=60, retrain_epochs=10, seed=0, early_bird=(5, 0.1))
    record = ugs.step()
    assert ugs.search_result.get("early_bird") and 4 <= record["search_epoch"] < 59
    assert ugs.graph.sparsity == pytest.approx(0.05, abs=1e-3)  # the round still prunes exactly
    with pytest.raises(ValueError, match="window"):
        UGS(GCN(cora.num_features, 16, 2, 7), cora, early_bird=(1, 0.1))
    with pytest.raises(ConfigError, match="early_bird_window"):
        config(early_bird_window=1)
