"""Cold Brew: cold-start split, teacher, virtual neighbours, FCR and a short real run on Cora."""
import json

import pytest
import torch
from torch_geometric.data import Data

from graphlottery import GCN, UGS
from graphlottery.cli import main
from graphlottery.coldbrew import (
    ColdBrewConfig,
    ColdStartSplit,
    StructuralEmbeddingGCN,
    cold_start_split,
    feature_contribution_ratio,
    label_propagation,
    node_degree,
    virtual_neighbours,
)
from graphlottery.coldbrew.run import run_seed
from graphlottery.lottery import TicketError
from graphlottery.sparse import Adjacency


def test_fraction_split_isolates_the_lowest_degrees_and_all_their_edges(cora):
    split = ColdStartSplit()(cora)
    n = cora.num_nodes
    for key in ("isolated_mask", "tail_mask", "head_mask"):
        assert int(split[key].sum()) == round(0.1 * n)
    deg = node_degree(cora.edge_index, n)
    assert deg[split.isolated_mask].max() <= deg[split.tail_mask].min()
    assert deg[split.tail_mask].max() <= deg[~(split.isolated_mask | split.tail_mask)].min()
    assert deg[split.head_mask].min() >= deg[~split.head_mask].max()
    src, dst = cora.edge_index
    touches = split.isolated_mask[src] | split.isolated_mask[dst]
    assert torch.equal(split.cold_edge_mask, ~touches)
    assert torch.equal(split.edge_index, cora.edge_index) and torch.equal(split.test_mask, cora.test_mask)
    # nodes without neighbours (CiteSeer has some) are isolated first
    assert not hasattr(cora, "isolated_mask")  # the input is not modified


def test_nodes_without_neighbours_are_always_isolated(citeseer):
    split = cold_start_split(citeseer, isolated=0.05, tail=0.0, head=0.0)
    lonely = node_degree(citeseer.edge_index, citeseer.num_nodes) == 0
    assert bool(lonely.any()) and bool(split.isolated_mask[lonely].all())


def test_released_code_split_reproduces_its_median_chain(cora):
    split = cold_start_split(cora, mode="coldbrew_code")
    # the released code's sets on Cora: 534 isolated, 534 tail, 286 head; 1040 directed edges removed
    assert [int(split[k].sum()) for k in ("isolated_mask", "tail_mask", "head_mask")] == [534, 534, 286]
    assert int((~split.cold_edge_mask).sum()) == 1040


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(isolated=0.5, tail=0.4, head=0.2), "sum to at most 1"), (dict(isolated=-0.1), r"in \[0, 1\]"),
     (dict(mode="median"), "mode must be")],
)
def test_bad_split_arguments(cora, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cold_start_split(cora, **kwargs)


def test_graph_without_edges_is_refused():
    data = Data(x=torch.randn(4, 3), edge_index=torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="no edges"):
        cold_start_split(data)


def test_virtual_neighbours_match_brute_force_and_skip_the_node_itself():
    torch.manual_seed(0)
    query, pool = torch.randn(50, 8), torch.randn(30, 8)
    self_index = torch.full((50,), -1)
    self_index[:30] = torch.arange(30)
    index, weight = virtual_neighbours(query, pool, 4, self_index, chunk_bytes=7 * 4 * 30)  # 7 rows a chunk
    scores = query @ pool.t()
    scores[torch.arange(30), torch.arange(30)] = float("-inf")
    top, expected = scores.topk(4, dim=1)
    assert torch.equal(index, expected)
    torch.testing.assert_close(weight, torch.softmax(top, 1))
    assert not (index[:30] == torch.arange(30)[:, None]).any()
    with pytest.raises(ValueError, match="k=30 must be in"):
        virtual_neighbours(query, pool, 30, self_index)
    # cosine scores with a temperature: the same search on unit vectors
    index, weight = virtual_neighbours(query, pool, 4, None, score="cosine", temperature=0.5)
    cos = torch.nn.functional.normalize(query, dim=1) @ torch.nn.functional.normalize(pool, dim=1).t()
    top, expected = cos.topk(4, dim=1)
    assert torch.equal(index, expected)
    torch.testing.assert_close(weight, torch.softmax(top / 0.5, 1))


@pytest.mark.parametrize("score", ["dot", "cosine"])
@pytest.mark.parametrize("margin", [0, 8])  # margin 0: many rows fail the bound and are searched again
def test_bfloat16_screening_returns_the_float32_neighbours(score, margin):
    torch.manual_seed(1)
    query, pool = torch.randn(400, 32), torch.randn(300, 32)
    self_index = torch.full((400,), -1)
    self_index[100:] = torch.randperm(300)
    exact = virtual_neighbours(query, pool, 5, self_index, score=score, screen=False)
    screened = virtual_neighbours(query, pool, 5, self_index, score=score, screen=True, margin=margin,
                                  chunk_bytes=6 * 300 * 64)
    assert torch.equal(screened[0], exact[0])
    torch.testing.assert_close(screened[1], exact[1], rtol=1e-4, atol=1e-5)


def test_feature_contribution_ratio_reproduces_the_paper():
    assert feature_contribution_ratio(86.96, 69.02, 78.18) == pytest.approx(0.3286, abs=1e-4)  # Cora
    assert feature_contribution_ratio(65.1, 86.26, 32.06) == pytest.approx(1.3904, abs=1e-4)  # MLP > GNN


def test_label_propagation_spreads_labels_along_kept_edges_only():
    # path 0 - 1 - 2 - 3 (both directions); labels known at the two ends
    edges = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    y, train = torch.tensor([0, 0, 1, 1]), torch.tensor([True, False, False, True])
    pred = label_propagation(Adjacency(edges, 4), y, train, steps=20).argmax(-1)
    assert pred.tolist() == [0, 0, 1, 1]
    cut = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # node 2 keeps no edge: it learns nothing
    scores = label_propagation(Adjacency(edges, 4), y, train, steps=20, edge_weight=cut)
    assert scores[2].sum() == 0 and scores[1, 0] > 0


def test_teacher_is_transductive_and_regularised(cora):
    teacher = StructuralEmbeddingGCN(GCN(cora.num_features, 16, 2, 7), cora.num_nodes, se_layers=[0, 1])
    out = teacher(cora.x, cora.edge_index)
    assert out.shape == (cora.num_nodes, 7)
    assert teacher.targets(cora.x, cora.edge_index).shape == (cora.num_nodes, 16 + 7)
    reg = teacher.regulariser()
    assert reg > 0 and torch.isclose(reg, sum(e.square().sum() for e in teacher.embeddings.values()))
    with pytest.raises(ValueError, match="cover 2708 nodes"):
        teacher(cora.x[:100], cora.edge_index[:, :10])
    with pytest.raises(ValueError, match="out of range"):
        StructuralEmbeddingGCN(GCN(cora.num_features, 16, 2, 7), cora.num_nodes, se_layers=[2])


def test_short_real_run_serves_isolated_nodes(tmp_path):
    config = ColdBrewConfig.from_dict({"dataset": "Cora", "epochs": 150, "mimic_epochs": 150, "seeds": [0]})
    result = run_seed(config, 0)
    iso, everyone = result["splits"]["isolated"], result["splits"]["all"]
    assert result["test_nodes"]["isolated"] > 80
    assert everyone["gcn"] > 0.75 and everyone["teacher"] > 0.75
    assert iso["coldbrew"] >= iso["mlp"] + 0.05  # virtual neighbours help nodes without edges
    assert iso["label_propagation"] < 0.3  # label propagation cannot reach isolated nodes
    assert 0.2 < result["fcr"] < 0.5  # Cora: structure dominates (paper 32.9%)


def test_cli_writes_results_and_resumes(tmp_path, capsys):
    cfg = tmp_path / "cb.yaml"
    cfg.write_text("dataset: Cora\nepochs: 20\nmimic_epochs: 20\nseeds: [0]\n")
    assert main(["coldbrew", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert set(results["splits"]) == {"isolated", "tail", "head", "all"}
    assert set(results["splits"]["isolated"]) == {"gcn", "mlp", "label_propagation", "teacher", "coldbrew"}
    assert 0 <= results["splits"]["all"]["coldbrew"] <= 1 and results["per_seed"][0]["seed"] == 0
    assert (tmp_path / "run" / "accuracy.png").stat().st_size > 1000
    assert "FCR" in capsys.readouterr().out
    cfg.write_text("dataset: Cora\nepochs: 20\nmimic_epochs: 20\nseeds: [0]\nk: 5\n")
    assert main(["coldbrew", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "different ['k']" in capsys.readouterr().err


def test_teacher_from_a_ticket_keeps_its_masks(cora, tmp_path):
    torch.manual_seed(0)
    ugs = UGS(GCN(cora.num_features, 64, 2, 7, dropout=0.6), cora, mask_epochs=5, retrain_epochs=5)
    ugs.step()
    path = ugs.ticket({}).save(tmp_path / "ticket.pt")
    config = ColdBrewConfig.from_dict({"dataset": "Cora", "epochs": 30, "mimic_epochs": 30, "seeds": [0],
                                       "ticket": str(path)})
    from graphlottery.coldbrew.run import _teacher

    split = cold_start_split(cora)
    teacher, edge_weight = _teacher(config, split, 7, torch.device("cpu"))
    kept = ugs.graph.edge_mask() & split.cold_edge_mask
    assert torch.equal(edge_weight.bool(), kept)
    weight = teacher.gnn.convs[0].lin
    probe = torch.eye(cora.num_features)[:3]
    masked = weight.weight * ugs.masks.mask("convs.0.lin.weight")
    assert torch.equal(weight(probe), probe @ masked.t())  # the hook applies the ticket's mask
    # a ticket for another graph is refused by name
    other = Data(x=cora.x, y=cora.y, edge_index=cora.edge_index[:, :-2], train_mask=cora.train_mask,
                 val_mask=cora.val_mask, test_mask=cora.test_mask)
    with pytest.raises(TicketError, match="another graph"):
        _teacher(config, cold_start_split(other), 7, torch.device("cpu"))


@pytest.mark.parametrize(
    "values, message",
    [({"dataset": "Cora", "score": "euclid"}, "score must be one of"),
     ({"dataset": "Cora", "pool": "test"}, "pool must be one of"),
     ({"dataset": "Cora", "temperature": 0}, "temperature must be positive"),
     ({"dataset": "Cora", "topk": 3}, "unknown config key"),
     ({"dataset": "Amazon"}, "unknown dataset")],
)
def test_bad_coldbrew_config_is_named(values, message):
    from graphlottery import ConfigError

    with pytest.raises(ConfigError, match=message):
        ColdBrewConfig.from_dict(values)
