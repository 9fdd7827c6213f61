import pytest
import torch
from torch_geometric.data import Data

from graphlottery import GCN, GIN, MaskedGraph, Ticket, TicketError, WeightMasks


def setup(seed=0):
    torch.manual_seed(seed)
    model = GCN(6, 8, 2, 3)
    data = Data(x=torch.randn(5, 6), edge_index=torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]]))
    return model, WeightMasks(model), MaskedGraph(data)


def test_round_trip_with_safe_loading(tmp_path, device):
    model, masks, graph = setup()
    model, masks, graph = model.to(device), masks.to(device), graph.to(device)
    rewind = {k: v.clone() for k, v in model.state_dict().items()}
    masks.set_hard({n: torch.rand(m.shape, device=device) > 0.5 for n, m in masks.items()})
    graph.set_keep(torch.tensor([True, False, True], device=device))
    path = Ticket.capture(model, masks, rewind, graph, seed=3, round=2, config={"lr": 0.01}).save(tmp_path / "t.pt")
    torch.load(path, weights_only=True)  # plain tensors and numbers only

    other, other_masks, other_graph = setup(seed=1)  # on the CPU: a ticket moves between devices
    ticket = Ticket.load(path)
    ticket.apply(other, other_masks, other_graph)
    assert (ticket.seed, ticket.round, ticket.config) == (3, 2, {"lr": 0.01})
    for name, mask in masks.items():
        assert torch.equal(other_masks.hard(name), mask.cpu())
    for key, value in rewind.items():
        assert torch.equal(other.state_dict()[key], value.cpu())
    assert torch.equal(other_graph.keep, graph.keep.cpu())


def test_ticket_for_another_model_or_graph_is_rejected(tmp_path):
    model, masks, graph = setup()
    path = Ticket.capture(model, masks, model.state_dict(), graph).save(tmp_path / "t.pt")
    ticket = Ticket.load(path)
    gin = GIN(6, 8, 2, 3)
    with pytest.raises(TicketError, match="for a GCN, not a GIN"):
        ticket.apply(gin, WeightMasks(gin))
    wider = GCN(6, 16, 2, 3)
    with pytest.raises(TicketError, match="shape"):
        ticket.apply(wider, WeightMasks(wider))
    other_graph = MaskedGraph(Data(x=torch.randn(5, 6), edge_index=torch.tensor([[0, 1], [1, 0]])))
    with pytest.raises(TicketError, match="another graph"):
        ticket.apply(model, masks, other_graph)


def test_corrupt_or_foreign_files(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a ticket at all")
    with pytest.raises(TicketError, match="not a readable ticket"):
        Ticket.load(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.ones(2)}, foreign)
    with pytest.raises(TicketError, match="not a graphlottery ticket"):
        Ticket.load(foreign)
    with pytest.raises(TicketError, match="does not exist"):
        Ticket.load(tmp_path / "missing.pt")
    model, masks, graph = setup()
    truncated = tmp_path / "truncated.pt"
    full = Ticket.capture(model, masks, model.state_dict(), graph).save(tmp_path / "full.pt").read_bytes()
    truncated.write_bytes(full[: len(full) // 2])
    with pytest.raises(TicketError):
        Ticket.load(truncated)


def test_ticket_checks_everything_before_changing_anything(tmp_path):
    model, masks, graph = setup()
    path = Ticket.capture(model, masks, model.state_dict(), graph).save(tmp_path / "t.pt")
    ticket = Ticket.load(path)
    other, _, _ = setup(seed=1)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    partial = WeightMasks(other, names=["convs.0.lin.weight"])
    with pytest.raises(TicketError, match="differ from the masked weights"):
        ticket.apply(other, partial)
    directed = MaskedGraph(graph.data, directed=True)
    with pytest.raises(TicketError, match="directed=False"):
        ticket.apply(other, WeightMasks(other), directed)
    assert all(torch.equal(other.state_dict()[k], v) for k, v in before.items())
