import json
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphlottery.contrastive.evaluate import svm_accuracy
from graphlottery.contrastive.loss import nt_xent
from graphlottery.nn import GCN, GIN, GINEncoder, load_encoder, save_encoder


def naive_nt_xent(z1, z2, t):
    """GraphCL's own formula: -log(pos / (sum over the row - pos)), row by row."""
    losses = []
    for n in range(z1.size(0)):
        sims = [math.exp(float(torch.cosine_similarity(z1[n], z2[m], dim=0)) / t) for m in range(z2.size(0))]
        losses.append(-math.log(sims[n] / (sum(sims) - sims[n])))
    return sum(losses) / len(losses)


def test_nt_xent_matches_the_definition():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    assert float(nt_xent(z1, z2, 0.2)) == pytest.approx(naive_nt_xent(z1, z2, 0.2), rel=1e-5)
    symmetric = 0.5 * (naive_nt_xent(z1, z2, 0.5) + naive_nt_xent(z2, z1, 0.5))
    assert float(nt_xent(z1, z2, 0.5, symmetric=True)) == pytest.approx(symmetric, rel=1e-5)
    # aligned views score lower than shuffled ones
    assert nt_xent(z1, z1 + 0.01 * z2, 0.2) < nt_xent(z1, z2, 0.2)


def test_nt_xent_rejects_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="at least 2"):
        nt_xent(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(torch.randn(4, 3), torch.randn(4, 3), temperature=0.0)


def test_svm_protocol_separates_separable_classes():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(100) % 2
    x = torch.randn(100, 5, generator=g) + 3.0 * y[:, None]
    accuracy, folds = svm_accuracy(x, y, seed=0)
    assert len(folds) == 10 and accuracy > 0.95
    chance, _ = svm_accuracy(torch.randn(100, 5, generator=g), y, seed=0)
    assert chance < 0.75
    with pytest.raises(ValueError, match="fewer than the 10 folds"):
        svm_accuracy(x[:12], y[:12])
    with pytest.raises(ValueError, match="NaN"):
        svm_accuracy(torch.full((100, 5), float("nan")), y)


def test_gin_encoder_pools_per_graph_and_honours_the_edge_mask():
    torch.manual_seed(0)
    graphs = [Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])),
              Data(x=torch.randn(3, 3), edge_index=torch.tensor([[0, 1], [1, 0]]))]
    batch = Batch.from_data_list(graphs)
    encoder = GINEncoder(3, 8, num_layers=2).eval()
    graph_emb, node_emb = encoder(batch.x, batch.edge_index, batch.batch, num_graphs=2)
    assert graph_emb.shape == (2, 16) and node_emb.shape == (7, 16)
    alone = encoder(graphs[1].x, graphs[1].edge_index)[0]
    assert torch.allclose(alone[0], graph_emb[1], atol=1e-5)
    # masking an edge out equals removing it
    keep = torch.ones(batch.edge_index.size(1))
    keep[[0, 1]] = 0.0
    masked = encoder(batch.x, batch.edge_index, batch.batch, keep, num_graphs=2)[0]
    removed = encoder(batch.x, batch.edge_index[:, 2:], batch.batch, num_graphs=2)[0]
    assert torch.allclose(masked, removed, atol=1e-5)


def test_encoder_checkpoint_starts_a_glt_model(tmp_path):
    torch.manual_seed(0)
    encoder = GCN(10, 16, 1, 16)
    path = save_encoder(encoder, tmp_path / "encoder.pt", dataset="Cora")
    model = GCN(10, 16, 2, 3)
    second = model.convs[1].lin.weight.detach().clone()
    assert load_encoder(model, path, dataset="Cora") == ["convs.0.bias", "convs.0.lin.weight"]
    assert torch.equal(model.convs[0].lin.weight, encoder.convs[0].lin.weight)
    assert torch.equal(model.convs[1].lin.weight, second)
    with pytest.raises(ValueError, match="pre-trained on Cora, not CiteSeer"):
        load_encoder(model, path, dataset="CiteSeer")
    with pytest.raises(ValueError, match="shape"):
        load_encoder(GCN(12, 16, 2, 3), path)
    with pytest.raises(ValueError, match="GCN encoder; it cannot start a GIN"):
        load_encoder(GIN(10, 16, 2, 3), path)  # same weight names, another model
    deeper = save_encoder(GCN(10, 16, 3, 16), tmp_path / "deeper.pt")
    with pytest.raises(ValueError, match="'convs.2.lin.weight'\\], which the model does not have"):
        load_encoder(model, deeper)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable encoder checkpoint"):
        load_encoder(model, tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError):
        load_encoder(model, tmp_path / "missing.pt")


def test_tu_datasets_load_with_features(tmp_path):
    from graphlottery.data import load_tu

    mutag = load_tu("MUTAG")
    assert len(mutag) == 188 and mutag.num_features == 7 and mutag.num_classes == 2
    imdb = load_tu("IMDB-BINARY")
    assert len(imdb) == 1000 and imdb[0].x.shape == (imdb[0].num_nodes, 1)
    assert load_tu("IMDB-BINARY", featureless="degree").num_features == 136
    assert load_tu("IMDB-BINARY", featureless=None)[0].x is None
    with pytest.raises(FileNotFoundError, match="MUTAG_A.txt"):
        load_tu("MUTAG", root=tmp_path)
    with pytest.raises(ValueError, match="unknown TU dataset"):
        load_tu("NOPE")


def test_graphcl_config_names_bad_values(tmp_path):
    from graphlottery.config import ConfigError
    from graphlottery.contrastive.run import GraphCLConfig

    assert GraphCLConfig(dataset="MUTAG").level == "graph" and GraphCLConfig(dataset="Cora").level == "node"
    with pytest.raises(ConfigError, match="augmentations"):
        GraphCLConfig(dataset="MUTAG", augmentations=["drop_everything"])
    with pytest.raises(ConfigError, match="aug_ratio"):
        GraphCLConfig(dataset="MUTAG", aug_ratio=1.5)
    with pytest.raises(ConfigError, match="unknown dataset"):
        GraphCLConfig(dataset="NOPE")


def test_graphcl_pretrains_mutag_and_resumes(tmp_path):
    from graphlottery.contrastive.run import GraphCLConfig, run_graphcl
    from graphlottery.nn import read_encoder

    config = GraphCLConfig(dataset="MUTAG", epochs=4, seeds=[0])
    results = run_graphcl(config, tmp_path, progress=False)
    assert set(results) == {"dataset", "accuracy_mean", "accuracy_std", "seeds", "per_seed"}
    assert results["accuracy_mean"] > 0.75  # chance is 0.66 (majority class)
    losses = [h["loss"] for h in json.loads((tmp_path / "seed_0" / "result.json").read_text())["history"]]
    assert losses[-1] < 0.95 * losses[0]  # pre-training lowers the contrastive loss
    checkpoint = read_encoder(tmp_path / "seed_0" / "encoder.pt")
    assert checkpoint["meta"]["dataset"] == "MUTAG" and "convs.2.lin.weight" in checkpoint["state_dict"]
    stamp = (tmp_path / "seed_0" / "encoder.pt").stat().st_mtime_ns
    assert run_graphcl(config, tmp_path, progress=False) == results
    assert (tmp_path / "seed_0" / "encoder.pt").stat().st_mtime_ns == stamp
    from graphlottery.config import ConfigError

    with pytest.raises(ConfigError, match="different"):
        run_graphcl(GraphCLConfig(dataset="MUTAG", epochs=5, seeds=[0]), tmp_path, progress=False)


def test_glt_rewinds_to_a_graphcl_encoder(tmp_path, cora):
    from graphlottery import GLTConfig, Ticket, run_glt
    from graphlottery.contrastive.run import GraphCLConfig, run_graphcl
    from graphlottery.nn import read_encoder

    pre = GraphCLConfig(dataset="Cora", augmentations=["edge_perturb", "attr_mask_columns"], hidden=64,
                        epochs=20, lr=0.01, temperature=0.5, seeds=[0])
    assert run_graphcl(pre, tmp_path / "pre", progress=False)["accuracy_mean"] > 0.6
    encoder = tmp_path / "pre" / "seed_0" / "encoder.pt"
    config = GLTConfig(dataset="Cora", hidden=64, rounds=1, mask_epochs=5, retrain_epochs=5,
                       random_baseline=False, init=str(encoder))
    run_glt(config, tmp_path / "glt", progress=False)
    ticket = Ticket.load(tmp_path / "glt" / "seed_0" / "round_01.pt")
    pretrained = read_encoder(encoder)["state_dict"]["convs.0.lin.weight"]
    assert torch.equal(ticket.rewind["convs.0.lin.weight"].cpu(), pretrained)
    with pytest.raises(ValueError, match="pre-trained on Cora, not CiteSeer"):
        run_glt(GLTConfig(dataset="CiteSeer", hidden=64, rounds=0, init=str(encoder)), tmp_path / "c", progress=False)


def test_joao_learns_a_distribution_during_pretraining(tmp_path):
    from graphlottery.contrastive.run import GraphCLConfig, run_graphcl

    config = GraphCLConfig(dataset="MUTAG", epochs=2, seeds=[0], joao=True,
                           augmentations=["identity", "node_drop", "subgraph"])
    run_graphcl(config, tmp_path, progress=False)
    history = json.loads((tmp_path / "seed_0" / "result.json").read_text())["history"]
    probs = torch.tensor([h["joao_probs"] for h in history])
    assert probs.shape == (2, 3) and torch.allclose(probs.sum(1), torch.ones(2, dtype=probs.dtype))
    assert (probs >= 0).all()
    # the identity view is the easiest to contrast: JOAO's ascent moves mass away from it
    assert probs[-1, 0] < 1 / 3
