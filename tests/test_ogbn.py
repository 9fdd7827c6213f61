"""OGB node runner: loading generated datasets in OGB's on-disk layout, DeeperGCN's masked softmax
aggregation, OGB's Evaluator as the metric, and GLT rounds end to end."""
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("ogb")

from graphlottery.config import ConfigError, GLTConfig  # noqa: E402
from graphlottery.data import load_ogbn  # noqa: E402
from graphlottery.graph import MaskedGraph  # noqa: E402
from graphlottery.lottery.glt import build_model, run_glt  # noqa: E402
from graphlottery.lottery.ticket import Ticket, TicketError  # noqa: E402
from graphlottery.masks import WeightMasks  # noqa: E402
from graphlottery.nn import MODELS, DeeperGCN, GENConv  # noqa: E402
from graphlottery.nn.deepergcn import softmax_aggregate  # noqa: E402
from graphlottery.sparse import Adjacency  # noqa: E402
from graphlottery.tasks import OGBNodeClassification  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from ogb_fake import write_arxiv_like, write_proteins_like  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ogb_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ogb_root")
    write_arxiv_like(root)
    write_proteins_like(root)
    return root


@pytest.fixture(scope="module")
def arxiv(ogb_root):
    return load_ogbn("ogbn-arxiv", ogb_root)


@pytest.fixture(scope="module")
def proteins(ogb_root):
    return load_ogbn("ogbn-proteins", ogb_root)


def _tiny(**overrides) -> GLTConfig:
    values = dict(dataset="ogbn-arxiv", model="deepergcn", hidden=16, layers=3, mask_epochs=3, retrain_epochs=3,
                  rounds=2, weight_decay=0.0, random_baseline=False)
    return GLTConfig(**{**values, **overrides})


# --- loading --------------------------------------------------------------------------------
def test_arxiv_like_loads_undirected_with_ogb_split(ogb_root, arxiv):
    import pandas as pd
    from torch_geometric.utils import is_undirected

    raw = ogb_root / "ogbn_arxiv" / "raw"
    edges = pd.read_csv(raw / "edge.csv.gz", header=None).values
    assert arxiv.name == "ogbn-arxiv" and arxiv.num_nodes == 300
    assert is_undirected(arxiv.edge_index) and arxiv.edge_index.size(1) == 2 * len(edges)
    assert arxiv.x.dtype == torch.float and arxiv.x.shape == (300, 16)
    assert arxiv.y.shape == (300,) and arxiv.y.dtype == torch.long
    masks = torch.stack([arxiv.train_mask, arxiv.val_mask, arxiv.test_mask])
    assert (masks.sum(0) == 1).all()  # OGB's split: every node in exactly one set
    test_idx = pd.read_csv(ogb_root / "ogbn_arxiv" / "split" / "time" / "test.csv.gz", header=None).values[:, 0]
    assert arxiv.test_mask.nonzero().view(-1).tolist() == sorted(test_idx.tolist())
    again = load_ogbn("ogbn-arxiv", ogb_root)  # processed once, then read from the cache
    assert torch.equal(again.edge_index, arxiv.edge_index)


def test_proteins_like_gets_mean_edge_features_and_112_labels(ogb_root, proteins):
    import pandas as pd

    raw = ogb_root / "ogbn_proteins" / "raw"
    edges = torch.as_tensor(pd.read_csv(raw / "edge.csv.gz", header=None).values)
    feat = torch.as_tensor(pd.read_csv(raw / "edge-feat.csv.gz", header=None).values, dtype=torch.float)
    both = torch.cat([edges, edges.flip(1)])  # OGB adds the inverse of every listed edge
    total = torch.zeros(200, 8).index_add_(0, both[:, 1], torch.cat([feat, feat]))
    count = torch.zeros(200).index_add_(0, both[:, 1], torch.ones(len(both))).clamp_min(1)
    assert torch.allclose(proteins.x, total / count[:, None], atol=1e-6)
    assert proteins.y.shape == (200, 112) and set(proteins.y.unique().tolist()) <= {0.0, 1.0}
    assert proteins.edge_index.size(1) == 2 * len(edges)


def test_missing_file_names_it_and_the_layout(ogb_root, tmp_path):
    shutil.copytree(ogb_root / "ogbn_arxiv", tmp_path / "ogbn_arxiv")
    (tmp_path / "ogbn_arxiv" / "split" / "time" / "valid.csv.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing .*ogbn_arxiv/split/time/valid\.csv\.gz\. Expected OGB's "
                                                r"on-disk layout.*raw/\{edge\.csv\.gz,node-feat\.csv\.gz"):
        load_ogbn("ogbn-arxiv", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no folder .*ogbn_products.*split/sales_ranking/"):
        load_ogbn("ogbn-products", tmp_path)
    with pytest.raises(ValueError, match="unknown OGB node dataset"):
        load_ogbn("ogbn-mag", tmp_path)


def test_ogb_loader_never_downloads(tmp_path):
    from graphlottery.data.ogb import _open_local

    with pytest.raises(FileNotFoundError, match="never downloads"):
        _open_local("ogbn-arxiv", tmp_path)


# --- DeeperGCN ------------------------------------------------------------------------------
def _graph(n: int = 40, e: int = 160, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, n, (2, e), generator=g)
    return edge_index[:, edge_index[0] != edge_index[1]], torch.randn(n, 8, generator=g)


def _reference_aggregate(x, edge_attr, weight, beta, adj):
    """Plain autograd: softmax of beta * m + log w over incoming edges, per channel."""
    m = F.relu(x[adj.src] + edge_attr) + 1e-7
    logits = (beta * m).masked_fill(weight[:, None] == 0, float("-inf"))
    index = adj.dst[:, None].expand_as(logits)
    peak = torch.full_like(x, float("-inf")).scatter_reduce(0, index, logits.detach(), "amax")
    p = torch.exp((beta * m - peak[adj.dst]).clamp_max(0)) * weight[:, None]
    return adj.sum_by_target(p * m) / adj.sum_by_target(p)


def test_softmax_aggregate_matches_autograd_reference():
    edge_index, x = _graph()
    adj = Adjacency(edge_index, 40).with_self_loops()
    x = x.double().requires_grad_()
    attr = torch.randn(adj.num_edges, 8, dtype=torch.double, requires_grad=True)
    weight = torch.rand(adj.num_edges, dtype=torch.double)
    weight[torch.rand(adj.num_edges) < 0.3] = 0.0
    weight[adj.src == adj.dst] = 1.0
    weight.requires_grad_()
    beta = torch.tensor(0.7, dtype=torch.double, requires_grad=True)
    ours, ref = softmax_aggregate(x, attr, weight, beta, adj), _reference_aggregate(x, attr, weight, beta, adj)
    assert torch.allclose(ours, ref)
    grad = torch.randn_like(ours)
    for a, b in zip(torch.autograd.grad(ours, (x, attr, weight, beta), grad),
                    torch.autograd.grad(ref, (x, attr, weight, beta), grad)):
        assert torch.allclose(a, b)
    positive = (weight.detach() + 0.1).requires_grad_()  # away from w = 0, where the softmax has a kink
    assert torch.autograd.gradcheck(lambda *t: softmax_aggregate(*t, adj), (x, attr, positive, beta))


def test_pruned_edge_is_absent_from_the_softmax():
    edge_index, x = _graph()
    keep = torch.rand(edge_index.size(1), generator=torch.Generator().manual_seed(1)) > 0.3
    conv = GENConv(8, 8, temperature=0.5)
    assert torch.equal(conv(x, edge_index, keep.float()), conv(x, edge_index[:, keep]))
    torch.manual_seed(0)
    model = DeeperGCN(8, 16, 4, 3, norm="layer", mlp_layers=2).eval()
    assert torch.allclose(model(x, edge_index, keep.float()), model(x, edge_index[:, keep]), atol=1e-6)
    soft = torch.where(keep, 1.0, 0.0).requires_grad_()  # a soft mask at 0 passes nothing but still learns
    model(x, edge_index, soft).sum().backward()
    assert soft.grad[~keep].abs().sum() > 0
    # the original DeeperGCN code multiplied the messages by the mask, which leaves a pruned edge in the softmax
    assert not torch.allclose(conv(x, edge_index, keep.float()), conv(x, edge_index))


def test_weight_masks_cover_every_linear_of_deepergcn():
    torch.manual_seed(0)
    model = MODELS["deepergcn"](8, 16, 3, 3, mlp_layers=2, norm="layer")
    linears = {f"{name}.weight" for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    masks = WeightMasks(model)
    assert set(masks.names) == linears and len(linears) == 3 * 2 + 2
    edge_index, x = _graph()
    masks.attach()
    masks.set_hard({**masks.hard_dict(), "head.weight": torch.zeros_like(model.head.weight, dtype=torch.bool)})
    assert torch.allclose(model.eval()(x, edge_index), model.head.bias.expand(40, 3))
    masks.detach()


# --- metric ---------------------------------------------------------------------------------
def test_ogb_metric_is_the_evaluators(arxiv, proteins):
    from sklearn.metrics import roc_auc_score

    task = OGBNodeClassification(arxiv, "ogbn-arxiv")
    out = torch.randn(arxiv.num_nodes, 5)
    correct = (out.argmax(-1) == arxiv.y).float()
    val, test = task.evaluate(out)
    assert (task.metric, task.num_outputs) == ("accuracy", 5)
    assert val == pytest.approx(float(correct[arxiv.val_mask].mean()))
    assert test == pytest.approx(float(correct[arxiv.test_mask].mean()))
    task = OGBNodeClassification(proteins, "ogbn-proteins")
    out = torch.randn(proteins.num_nodes, 112, requires_grad=True)
    _, test = task.evaluate(out)
    y, score = proteins.y[proteins.test_mask], out.detach()[proteins.test_mask]
    both = [t for t in range(112) if 0 < y[:, t].sum() < len(y)]
    assert (task.metric, task.num_outputs) == ("roc_auc", 112)
    assert test == pytest.approx(sum(roc_auc_score(y[:, t], score[:, t]) for t in both) / len(both))
    task.loss(out).backward()  # binary cross-entropy over the 112 tasks of the training nodes
    assert out.grad[~proteins.train_mask].abs().sum() == 0
    train = proteins.train_mask.nonzero().view(-1)  # mini-batch losses sum to the full-batch one
    halves = sum(task.batch_loss(out[part], part) for part in train.tensor_split(2)) / train.numel()
    assert float(halves.detach()) == pytest.approx(float(task.loss(out).detach()), rel=1e-5)
    with pytest.raises(ValueError, match="112 task"):
        OGBNodeClassification(arxiv, "ogbn-proteins")


# --- the GLT driver -------------------------------------------------------------------------
def test_glt_rounds_on_arxiv_like_give_exact_sparsities(ogb_root, arxiv, tmp_path):
    config = _tiny(data_root=str(ogb_root))
    results = run_glt(config, tmp_path / "run", progress=False)
    units = arxiv.edge_index.size(1) // 2
    model = build_model(config, 16, 5)
    weights = sum(p.numel() for n, p in model.named_parameters() if n in WeightMasks(model).names)
    kept_units, kept_weights = units, weights
    for record in results["rounds"]:
        assert record["graph_sparsity"] == pytest.approx(1 - kept_units / units)
        assert record["weight_sparsity"] == pytest.approx(1 - kept_weights / weights)
        assert 0.0 <= record["test"] <= 1.0 and 0.0 <= record["val"] <= 1.0
        kept_units -= round(0.05 * kept_units)
        kept_weights -= round(0.2 * kept_weights)
    assert results["rounds"][2]["graph_sparsity"] > 0.09
    assert (results["metric"], results["dataset"], results["model"]) == ("accuracy", "ogbn-arxiv", "deepergcn")
    assert json.loads((tmp_path / "run" / "results.json").read_text())["rounds"][-1]["round"] == 2


def test_glt_on_proteins_like_scores_roc_auc(ogb_root, tmp_path):
    with pytest.raises(ConfigError, match="does not fit full-batch.*set num_parts"):
        run_glt(_tiny(dataset="ogbn-proteins", rounds=1, data_root=str(ogb_root)), tmp_path / "full", progress=False)
    config = _tiny(dataset="ogbn-proteins", norm="layer", mlp_layers=2, rounds=1, num_parts=2, data_root=str(ogb_root))
    results = run_glt(config, tmp_path / "run", progress=False)  # cluster batches, 112 binary tasks
    assert results["metric"] == "roc_auc"
    assert all(0.0 <= r["test"] <= 1.0 for r in results["rounds"])


def test_cli_runs_the_shipped_arxiv_config(ogb_root, tmp_path):
    from graphlottery.cli import main

    out = tmp_path / "cli"
    argv = ["glt", str(REPO / "configs" / "glt" / "ogbn_arxiv.yaml"), "--out", str(out), "--rounds", "1",
            "--epochs", "1", "--no-baseline", "--data-root", str(ogb_root), "--quiet"]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["model"] == "deepergcn" and len(results["rounds"]) == 2


def test_ticket_for_another_dataset_is_rejected(ogb_root, arxiv, tmp_path):
    config = _tiny(rounds=1, data_root=str(ogb_root))
    run_glt(config, tmp_path / "run", progress=False)
    ticket = Ticket.load(tmp_path / "run" / "seed_0" / "round_01.pt")
    other_root = tmp_path / "other"
    write_arxiv_like(other_root, seed=1)  # same sizes, another graph
    other = load_ogbn("ogbn-arxiv", other_root)
    model = build_model(config, 16, 5)
    ticket.check(model, MaskedGraph(arxiv))  # fits its own graph
    with pytest.raises(TicketError, match="another graph"):
        ticket.check(model, MaskedGraph(other))


def test_configs_for_ogbn(ogb_root, tmp_path):
    arxiv = GLTConfig.from_yaml(REPO / "configs" / "glt" / "ogbn_arxiv.yaml")
    assert (arxiv.model, arxiv.layers, arxiv.hidden, arxiv.dropout, arxiv.lr) == ("deepergcn", 28, 128, 0.5, 0.01)
    assert (arxiv.s1, arxiv.s2, arxiv.mask_epochs, arxiv.retrain_epochs) == (1e-6, 1e-4, 250, 500)
    proteins = GLTConfig.from_yaml(REPO / "configs" / "glt" / "ogbn_proteins.yaml")
    assert (proteins.hidden, proteins.norm, proteins.mlp_layers, proteins.s1) == (64, "layer", 2, 0.1)
    products = GLTConfig.from_yaml(REPO / "configs" / "glt" / "ogbn_products.yaml", data_root=str(ogb_root))
    assert (products.batch_size, products.num_neighbors) == (1024, [15, 10, 5])  # mini-batch UGS
    products = dataclasses.replace(products, batch_size=None)
    with pytest.raises(ConfigError, match="ogbn-products does not fit full-batch.*batch_size"):
        run_glt(products, tmp_path / "products", progress=False)
    assert not (tmp_path / "products").exists()
    with pytest.raises(ConfigError, match="task: node"):
        GLTConfig(dataset="ogbn-arxiv", task="link")
    with pytest.raises(ConfigError, match="norm must be one of"):
        GLTConfig(dataset="ogbn-arxiv", model="deepergcn", norm="group")
