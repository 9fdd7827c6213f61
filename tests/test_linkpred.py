import pytest
import torch

from graphlottery import GLTConfig, Ticket, run_glt
from graphlottery.tasks import LinkPrediction, link_split, roc_auc


def keys(edge_index, n):
    lo, hi = torch.minimum(edge_index[0], edge_index[1]), torch.maximum(edge_index[0], edge_index[1])
    return set((lo * n + hi).tolist())


def test_link_split_holds_edges_out_of_message_passing(cora):
    split = link_split(cora, val=0.05, test=0.1, seed=0)
    n = cora.num_nodes
    full, train = keys(cora.edge_index, n), keys(split.edge_index, n)
    val, test = keys(split.val_edge_index, n), keys(split.test_edge_index, n)
    assert len(val) == round(0.05 * len(full)) and len(test) == round(0.1 * len(full))
    assert train | val | test == full and not (train & val) and not (train & test) and not (val & test)
    negatives = keys(split.val_neg_edge_index, n) | keys(split.test_neg_edge_index, n)
    assert len(negatives) == len(val) + len(test) and not (negatives & full)
    assert bool((split.val_neg_edge_index[0] != split.val_neg_edge_index[1]).all())
    assert split.edge_index.size(1) == 2 * len(train)  # both directions of every training edge
    assert "train_mask" not in split and split.x is cora.x
    assert keys(link_split(cora, seed=0).test_edge_index, n) == test  # the split is a function of its seed
    with pytest.raises(ValueError, match="sum below 1"):
        link_split(cora, val=0.5, test=0.5)


def test_roc_auc_matches_the_definition_with_ties():
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randint(0, 5, (40,), generator=g).float(), torch.randint(0, 4, (30,), generator=g).float()
    expected = roc_auc_score([1] * 40 + [0] * 30, torch.cat([pos, neg]).numpy())
    assert roc_auc(pos, neg) == pytest.approx(expected)


def test_a_leaking_split_is_refused(cora):
    split = link_split(cora, seed=0)
    leaky = split.clone()
    leaky.edge_index = torch.cat([split.edge_index, split.test_edge_index[:, :3]], 1)
    with pytest.raises(ValueError, match="3 test edges are also message-passing edges"):
        LinkPrediction(leaky)
    assert LinkPrediction(leaky, check_leaks=False).evaluate(torch.randn(cora.num_nodes, 4))  # a benchmark's split
    with pytest.raises(ValueError, match="link_split first"):
        LinkPrediction(cora)


def test_short_link_prediction_ticket(tmp_path):
    config = GLTConfig(dataset="Cora", task="link", hidden=128, embedding=16, dropout=0.0, lr=0.01, weight_decay=0.0,
                       l1="decoupled", mask_epochs=100, retrain_epochs=100, rounds=1, seeds=[0])
    results = run_glt(config, tmp_path, progress=False)
    assert results["metric"] == "roc_auc" and results["task"] == "link"
    dense, ticket_round = results["rounds"]
    assert dense["test"] > 0.85 and ticket_round["test"] > dense["test"] - 0.02
    assert ticket_round["graph_sparsity"] == pytest.approx(0.05, abs=1e-3)
    ticket = Ticket.load(tmp_path / "seed_0" / "round_01.pt")
    held_out = round(0.05 * 5278) + round(0.1 * 5278)  # Cora has 5,278 undirected edges
    assert ticket.edge_mask.numel() == 2 * (5278 - held_out)  # the mask covers message-passing edges only


def test_bad_link_config_is_named():
    from graphlottery import ConfigError

    with pytest.raises(ConfigError, match="link_metric must be"):
        GLTConfig(dataset="Cora", task="link", link_metric="mrr")
    with pytest.raises(ConfigError, match="link_val and link_test"):
        GLTConfig(dataset="Cora", task="link", link_val=0.6, link_test=0.5)


def test_validation_edges_as_test_input(cora):
    from graphlottery import GCN, UGS, ConfigError
    from graphlottery.sparse import Adjacency

    split = link_split(cora, seed=0)
    task = LinkPrediction(split, val_as_input=True)
    assert task.test_input.shape == (2, 2 * split.val_edge_index.size(1))
    records = {}
    for flag in (False, True):  # same seed, same training: only the test pairs' graph differs
        torch.manual_seed(0)
        ugs = UGS(GCN(cora.num_features, 64, 2, 16, dropout=0.0), split, LinkPrediction(split, val_as_input=flag),
                  retrain_epochs=30, weight_decay=0.0)
        records[flag] = ugs.dense()
        model = ugs.model.eval()
    assert records[True]["val"] == records[False]["val"] and records[True]["test"] != records[False]["test"]
    # the test score is the one computed on training + validation edges
    with torch.no_grad():
        z = model(split.x, Adjacency(split.edge_index, cora.num_nodes))
        z_test = model(split.x, Adjacency(torch.cat([split.edge_index, task.test_input], 1), cora.num_nodes))
    val, test = task.evaluate(z, z_test)
    assert val == task.evaluate(z)[0]
    pos, neg = split.test_edge_index, split.test_neg_edge_index
    assert test == roc_auc(task.decode(z_test, pos), task.decode(z_test, neg)) != task.evaluate(z)[1]
    with pytest.raises(ConfigError, match="link_val_as_input"):
        GLTConfig(dataset="Cora", link_val_as_input=True)
