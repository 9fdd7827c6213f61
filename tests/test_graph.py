import pytest
import torch
from torch_geometric.data import Data

from graphlottery.graph import MaskedGraph


def toy(directed=False):
    # 0-1 and 1-2 undirected, 2->3 one way, and a self-loop on 3
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 3]])
    return MaskedGraph(Data(x=torch.randn(4, 2), edge_index=edge_index), directed=directed)


def test_undirected_edges_are_one_unit():
    g = toy()
    assert g.num_units == 3
    assert g.edge_unit[0] == g.edge_unit[1] and g.edge_unit[2] == g.edge_unit[3]
    assert g.edge_unit[:4].tolist() == [0, 0, 1, 1]
    g.set_keep(torch.tensor([False, True, True]))
    assert g.edge_mask().tolist() == [False, False, True, True, True, True]


def test_directed_mode_one_unit_per_column():
    g = toy(directed=True)
    assert g.num_units == 5
    g.set_edge_mask(torch.tensor([False, True, True, True, True, True]))
    assert g.sparsity == pytest.approx(1 / 5)


def test_self_loops_are_never_pruned_nor_counted():
    g = toy()
    assert int(g.edge_unit[5]) == g.num_units
    g.make_soft()
    assert float(g.edge_weight().detach()[5]) == 1.0
    with pytest.raises(ValueError, match="self-loop"):
        g.set_edge_mask(torch.tensor([True, True, True, True, True, False]))
    g.set_edge_mask(torch.tensor([False, False, True, True, True, True]))
    assert g.sparsity == pytest.approx(1 / 3)  # 3 units; the self-loop is not one of them


def test_asymmetric_mask_is_rejected_when_tied():
    with pytest.raises(ValueError, match="one direction"):
        toy().set_edge_mask(torch.tensor([False, True, True, True, True, True]))


def test_soft_and_compacted_views():
    g = toy()
    score = g.make_soft(noise=0.0)
    with torch.no_grad():
        score.mul_(torch.tensor([0.5, 2.0, 3.0]))
    w = g.edge_weight()
    assert w[0] == w[1] and w.numel() == 6
    g.make_hard()
    g.set_edge_mask(torch.tensor([True, True, False, False, True, True]))
    assert g.compact().edge_index.tolist() == [[0, 1, 2, 3], [1, 0, 3, 3]]
    assert g.sparsity == pytest.approx(1 / 3)
    assert g.num_kept_edges == 4


def test_wrong_mask_size():
    with pytest.raises(ValueError, match="6 edges"):
        toy().set_edge_mask(torch.ones(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="expected"):
        toy().set_keep(torch.ones(7, dtype=torch.bool))


@pytest.mark.parametrize(
    "data, message",
    [
        (Data(x=torch.tensor([[0.0], [float("nan")]]), edge_index=torch.tensor([[0], [1]])), "NaN"),
        (Data(x=torch.tensor([[0.0], [float("inf")]]), edge_index=torch.tensor([[0], [1]])), "NaN or inf"),
        (Data(x=torch.tensor([[0.0, 1.0], [0.0, 0.0], [float("nan"), 0.0]]).to_sparse_csr(),
              edge_index=torch.tensor([[0], [1]])), "NaN or inf values in 1 rows, e.g. node 2"),
        (Data(x=torch.zeros(2, 1), edge_index=torch.tensor([[0], [2]])), "valid range"),
        (Data(x=torch.zeros(2, 1), edge_index=torch.tensor([[0.0], [1.0]])), "integer"),
        (Data(x=torch.zeros(0, 1), edge_index=torch.zeros(2, 0, dtype=torch.long)), "no nodes"),
    ],
)
def test_bad_graphs_are_named(data, message):
    with pytest.raises(ValueError, match=message):
        MaskedGraph(data)


def test_int32_edge_index_and_boolean_masks_only():
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]], dtype=torch.int32)
    g = MaskedGraph(Data(x=torch.randn(3, 2), edge_index=edge_index))
    assert g.num_units == 2
    with pytest.raises(ValueError, match="boolean"):
        g.set_keep(torch.tensor([1.0, 0.3]))
    with pytest.raises(ValueError, match="boolean"):
        g.set_edge_mask(torch.ones(4))
