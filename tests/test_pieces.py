"""The search as pieces for your own loop, the README's loop, and tickets applied to graphs and models."""
import re
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data

import graphlottery as gl
from graphlottery.lottery.ticket import TicketError
from graphlottery.masks import sparsity

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_own_training_loop_runs_one_round(monkeypatch, tmp_path):
    text = README.read_text()
    block = re.search(r"<!-- tested: own training loop[^\n]*\n```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    graph, masks, ticket = scope["graph"], scope["masks"], scope["ticket"]
    assert graph.sparsity == pytest.approx(264 / 5278)  # 5% of Cora's 5278 undirected edges
    assert sparsity([m for _, m in masks.items()]) == pytest.approx(0.2, abs=1e-4)
    assert float(scope["accuracy"]) > 0.65  # seed 0: 0.78; chance 0.14
    assert int(ticket.edge_mask.sum()) == graph.num_kept_edges


def test_pieces_prune_exactly_and_take_the_l1_step():
    model = gl.GCN(6, 8, 2, 3)
    pairs = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 5, 5]])
    graph = gl.MaskedGraph(Data(x=torch.randn(6, 6), edge_index=torch.cat([pairs, pairs.flip(0)], 1)))
    masks = gl.WeightMasks(model).attach()
    init = gl.rewind_point(model)
    edge_score, *weight_scores = gl.soft_masks(graph, masks, noise=0.0)
    assert torch.equal(edge_score, torch.ones(6)) and all(bool((s == 1).all()) for s in weight_scores)
    edge_score.grad = torch.zeros(6)
    gl.l1_step(graph, 0.5)  # coupled: on the gradient
    assert torch.equal(edge_score.grad, torch.full((6,), 0.5))
    gl.l1_step(graph, 0.5, lr=0.1)  # decoupled: on the score
    assert torch.allclose(edge_score, torch.full((6,), 0.95))
    with torch.no_grad():
        edge_score.copy_(torch.tensor([0.3, -0.1, 0.9, 0.2, 0.8, 0.7]))
    gl.prune_graph(graph, 0.5)  # 3 of 6 edges: the lowest |score|
    assert graph.score is None and graph.keep.tolist() == [False, False, True, False, True, True]
    gl.prune_weights(masks, 0.25)
    kept = sum(int(m.sum()) for _, m in masks.items())
    assert kept == round(0.75 * sum(m.numel() for _, m in masks.items())) and not masks.is_soft
    with pytest.raises(ValueError, match="soft_masks"):
        gl.l1_step(graph, 0.5)
    with torch.no_grad():
        model.convs[0].lin.weight.add_(1.0)
    gl.rewind(model, init)
    assert torch.equal(model.convs[0].lin.weight, init["convs.0.lin.weight"])


def test_apply_ticket_drops_pruned_edges_and_their_attributes(cora, tmp_path):
    torch.manual_seed(0)
    data = cora.clone()
    data.edge_attr = torch.arange(data.num_edges, dtype=torch.float).unsqueeze(-1)
    model = gl.GCN(data.num_features, 16, 2, 7)
    ugs = gl.UGS(model, data, mask_epochs=3, retrain_epochs=3, prune_graph=0.2)
    ugs.step()
    path = ugs.ticket().save(tmp_path / "ticket.pt")
    transform = gl.ApplyTicket(path)
    pruned = transform(data)
    assert pruned.edge_index.size(1) == ugs.graph.num_kept_edges < data.num_edges
    assert torch.equal(pruned.edge_index, ugs.graph.kept_edges()[0])
    assert torch.equal(pruned.edge_attr.view(-1).long(), ugs.graph.edge_mask().nonzero().view(-1))
    assert torch.equal(pruned.x, data.x)
    shuffled = data.clone()
    shuffled.edge_index = data.edge_index.flip(1)  # the same edges in another order
    with pytest.raises(TicketError, match="another graph"):
        transform(shuffled)
    fresh = gl.GCN(data.num_features, 16, 2, 7)
    masks = gl.attach_ticket(fresh, path)
    assert torch.equal(fresh.convs[0].lin.weight, ugs.rewind_state["convs.0.lin.weight"])
    assert all(torch.equal(m, ugs.masks.hard(n)) for n, m in masks.items())
    with pytest.raises(TicketError, match="ticket is for a GCN"):
        gl.attach_ticket(gl.GIN(data.num_features, 16, 2, 7), path)
