"""OGB link prediction: a generated ogbl-collab in OGB's on-disk layout, OGB's Evaluator as the
Hits@K metric, and the MLP decoder trained, masked and saved with the encoder by GLT rounds."""
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

pytest.importorskip("ogb")

from graphlottery.config import ConfigError, GLTConfig  # noqa: E402
from graphlottery.data import load_ogbl  # noqa: E402
from graphlottery.lottery.glt import build_model, run_glt  # noqa: E402
from graphlottery.lottery.ticket import Ticket  # noqa: E402
from graphlottery.masks import WeightMasks  # noqa: E402
from graphlottery.nn import GCN, MLPDecoder  # noqa: E402
from graphlottery.tasks import LinkPrediction, hits_at_k, link_split  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from ogb_fake import write_collab_like, write_ddi_like  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ogb_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ogbl_root")
    write_collab_like(root)
    return root


@pytest.fixture(scope="module")
def collab(ogb_root):
    return load_ogbl("ogbl-collab", ogb_root)


def _split_file(ogb_root: Path, name: str) -> dict:
    from graphlottery.data.ogb import numpy_globals

    with torch.serialization.safe_globals(numpy_globals()):
        return torch.load(ogb_root / "ogbl_collab" / "split" / "time" / f"{name}.pt", weights_only=True)


# --- loading --------------------------------------------------------------------------------
def test_collab_like_loads_training_edges_and_ogb_split(ogb_root, collab):
    raw = ogb_root / "ogbl_collab" / "raw"
    listed = pd.read_csv(raw / "edge.csv.gz", header=None).values  # repeated collaborations listed twice
    pairs = {(min(u, v), max(u, v)) for u, v in listed}
    assert collab.name == "ogbl-collab" and collab.num_nodes == 400 and collab.x.shape == (400, 32)
    assert len(listed) > len(pairs) and collab.edge_index.shape == (2, 2 * len(pairs))  # coalesced, undirected
    keys = set(map(tuple, collab.edge_index.t().tolist()))
    assert pairs <= keys and all((v, u) in keys for u, v in keys)
    for part, ogb_part in (("val", "valid"), ("test", "test")):
        split = _split_file(ogb_root, ogb_part)
        assert torch.equal(collab[f"{part}_edge_index"], torch.from_numpy(split["edge"]).t())
        assert torch.equal(collab[f"{part}_neg_edge_index"], torch.from_numpy(split["edge_neg"]).t())
    assert collab.val_neg_edge_index.shape == (2, 300)
    LinkPrediction(collab, "hits@50")  # message passing holds no validation or test edge


def test_split_files_need_only_safe_numpy_globals(ogb_root, monkeypatch):
    """OGB's split files are numpy arrays pickled under numpy 1; OGB's processed graph and split
    files are read with weights_only loading (PyG reads back its own ``pre_transform.pt`` /
    ``pre_filter.pt`` markers, repr strings it wrote into the cache, without)."""
    data = (ogb_root / "ogbl_collab" / "split" / "time" / "valid.pt").read_bytes()
    assert b"numpy.core.multiarray" in data and b"numpy._core" not in data
    calls = {}
    load = torch.load

    def checked_load(f, *args, **kwargs):
        calls[Path(getattr(f, "path", f)).name] = kwargs.get("weights_only", True)
        return load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", checked_load)
    again = load_ogbl("ogbl-collab", ogb_root)  # processed once, then read from the cache
    assert again.edge_index.shape == (2, 2536)
    ogb_files = {k: v for k, v in calls.items() if k not in ("pre_transform.pt", "pre_filter.pt")}
    assert ogb_files == {"geometric_data_processed.pt": True, "train.pt": True, "valid.pt": True, "test.pt": True}


def test_missing_file_names_it_and_the_layout(ogb_root, tmp_path):
    shutil.copytree(ogb_root / "ogbl_collab", tmp_path / "ogbl_collab")
    (tmp_path / "ogbl_collab" / "split" / "time" / "valid.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing .*ogbl_collab/split/time/valid\.pt\. Expected OGB's "
                                                r"on-disk layout .*raw/\{edge\.csv\.gz,.*split/time/\{train\.pt"):
        load_ogbl("ogbl-collab", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no folder .*ogbl_ppa.*split/throughput/"):
        load_ogbl("ogbl-ppa", tmp_path)
    with pytest.raises(ValueError, match="unknown OGB link dataset"):
        load_ogbl("ogbl-citation2", tmp_path)


def test_ogb_link_loader_never_downloads(tmp_path):
    from graphlottery.data.ogb import _open_local

    with pytest.raises(FileNotFoundError, match="never downloads"):
        _open_local("ogbl-collab", tmp_path, "Link")


# --- metric and decoder ---------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 10, 50, 500])
def test_ogb_evaluator_equals_hits_at_k(collab, k):
    generator = torch.Generator().manual_seed(k)
    pos = torch.randn(172, generator=generator).round(decimals=1) + 0.5  # ties with negatives included
    neg = torch.randn(300, generator=generator).round(decimals=1)
    task = LinkPrediction(collab, f"hits@{k}", evaluator="ogbl-collab")
    assert task.metric_value(pos, neg) == hits_at_k(pos, neg, k)
    z = torch.randn(collab.num_nodes, 8, generator=generator)
    assert task.evaluate(z) == LinkPrediction(collab, f"hits@{k}").evaluate(z)


def test_evaluator_is_refused_where_it_cannot_score(collab):
    with pytest.raises(ValueError, match="Hits@K"):
        LinkPrediction(collab, "roc_auc", evaluator="ogbl-collab")
    with pytest.raises(ValueError, match="scored by 'mrr'"):
        LinkPrediction(collab, "hits@10", evaluator="ogbl-citation2")


def test_mlp_decoder_scores_the_hadamard_product():
    decoder = MLPDecoder(8)
    z, pairs = torch.randn(5, 8), torch.tensor([[0, 1, 4], [2, 3, 4]])
    hadamard = z[pairs[0]] * z[pairs[1]]
    expected = torch.relu(hadamard @ decoder.lin1.weight.T + decoder.lin1.bias) @ decoder.lin2.weight.T
    assert torch.allclose(decoder(z, pairs), (expected + decoder.lin2.bias).view(-1), atol=1e-6)
    assert LinkPrediction.score(z, pairs).shape == (3,)  # the dot product stays a static method


# --- the GLT driver -------------------------------------------------------------------------
def test_glt_round_on_collab_like_with_mlp_decoder(ogb_root, collab, tmp_path):
    config = GLTConfig(dataset="ogbl-collab", task="link", link_metric="hits@50", decoder="mlp", hidden=32,
                       embedding=16, mask_epochs=20, retrain_epochs=20, rounds=1, weight_decay=0.0,
                       l1="decoupled", random_baseline=False, data_root=str(ogb_root))
    results = run_glt(config, tmp_path / "run", progress=False)
    assert (results["metric"], results["dataset"], results["task"]) == ("hits@50", "ogbl-collab", "link")
    units = collab.edge_index.size(1) // 2
    model = build_model(config, 32, 16)
    names = WeightMasks(model).names
    assert {"decoder.lin1.weight", "decoder.lin2.weight"} <= set(names)
    weights = sum(p.numel() for n, p in model.named_parameters() if n in names)
    for r, record in enumerate(results["rounds"]):
        assert 0.0 <= record["test"] <= 1.0 and 0.0 <= record["val"] <= 1.0
        kept_units = units - round(0.05 * units) * r
        kept_weights = weights - round(0.2 * weights) * r
        assert record["graph_sparsity"] == pytest.approx(1 - kept_units / units)
        assert record["weight_sparsity"] == pytest.approx(1 - kept_weights / weights)
    ticket = Ticket.load(tmp_path / "run" / "seed_0" / "round_01.pt")
    assert {"decoder.lin1.weight", "decoder.lin1.bias", "decoder.lin2.weight"} <= set(ticket.rewind)
    assert not bool(ticket.weight_masks["decoder.lin1.weight"].all())  # the decoder is pruned with the rest
    assert ticket.edge_mask.numel() == collab.edge_index.size(1)  # message-passing edges only


def test_featureless_ddi_like_learns_node_embeddings_from_a_sparse_identity(tmp_path):
    """ogbl-ddi has no node features: its one-hot ids are a sparse CSR identity (N stored values,
    never a dense N x N), and the first layer learns an embedding per node from them. Measured
    Hits@20 (200 negatives, chance about 0.1): 0.33-0.44 over seeds 0-3, both rounds."""
    write_ddi_like(tmp_path / "root")
    ddi = load_ogbl("ogbl-ddi", tmp_path / "root")
    assert ddi.x.layout == torch.sparse_csr and ddi.x.values().numel() == ddi.num_nodes == 300
    assert torch.equal(ddi.x.to_dense(), torch.eye(300))
    config = GLTConfig(dataset="ogbl-ddi", task="link", link_metric="hits@20", hidden=32, embedding=16,
                       mask_epochs=20, retrain_epochs=50, rounds=1, weight_decay=0.0, l1="decoupled",
                       random_baseline=False, data_root=str(tmp_path / "root"))
    results = run_glt(config, tmp_path / "run", progress=False)
    assert [r["graph_sparsity"] > 0 for r in results["rounds"]] == [False, True]
    assert all(r["test"] > 0.25 for r in results["rounds"])


def test_mlp_decoder_learns_cora_links(cora):
    """Measured: test ROC-AUC 0.789 / 0.791 (seeds 0 / 1) after 100 epochs, dot product 0.889."""
    from graphlottery.lottery.ugs import UGS

    split = link_split(cora, seed=0)
    torch.manual_seed(0)
    model = GCN(cora.num_features, 128, 2, 16, dropout=0.0)
    model.decoder = decoder = MLPDecoder(16)
    ugs = UGS(model, split, LinkPrediction(split, decoder=decoder), lr=0.01, weight_decay=0.0, retrain_epochs=100)
    result = ugs.dense()
    assert result["test"] > 0.74 and result["val"] > 0.74


# --- configs --------------------------------------------------------------------------------
def test_shipped_configs_load():
    collab = GLTConfig.from_yaml(REPO / "configs" / "linkpred" / "collab_gcn.yaml")
    assert (collab.dataset, collab.decoder, collab.link_metric, collab.layers) == ("ogbl-collab", "mlp", "hits@50", 3)
    molhiv = GLTConfig.from_yaml(REPO / "configs" / "graphcls" / "molhiv_gin.yaml")
    assert (molhiv.dataset, molhiv.task, molhiv.model) == ("ogbg-molhiv", "graph", "gin")


def test_bad_ogbl_and_decoder_configs_are_named():
    with pytest.raises(ConfigError, match="ogbl-collab runs with task: link and a Hits@K.*hits@50"):
        GLTConfig(dataset="ogbl-collab", task="link")  # default link_metric roc_auc
    with pytest.raises(ConfigError, match="ogbl-collab runs with task: link"):
        GLTConfig(dataset="ogbl-collab", task="node", link_metric="hits@50")
    with pytest.raises(ConfigError, match="decoder 'mlp' scores node pairs"):
        GLTConfig(dataset="Cora", decoder="mlp")
    with pytest.raises(ConfigError, match="decoder must be one of"):
        GLTConfig(dataset="Cora", task="link", decoder="bilinear")
