"""Two gloo processes on loopback run one mini-batch UGS round (node classification, link
prediction) and end with identical masks; resuming such a run on another number of processes,
or processes that disagree on options or rounds, are refused."""
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from graphlottery import GCN
from graphlottery.lottery import DistributedUGS, MiniBatchUGS, Ticket, TicketError
from graphlottery.tasks import LinkPrediction, link_split


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, world: int, port: int, data, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.manual_seed(rank)  # different initial weights: rank 0's must win
        ugs = DistributedUGS(GCN(data.num_features, 16, 2, 7), data, batch_size=20, num_neighbors=[5, 5],
                             mask_epochs=6, retrain_epochs=3, seed=0)
        record = ugs.step()
        ticket = ugs.ticket()
        torch.save({"keep": ugs.graph.keep, "masks": ugs.masks.hard_dict(), "state": ugs.model.state_dict(),
                    "test": record["test"]}, f"{out}/rank{rank}.pt")
        if rank == 0:
            ticket.save(f"{out}/round_01.pt")
    finally:
        dist.destroy_process_group()


def test_two_processes_end_with_identical_masks(cora, tmp_path):
    mp.spawn(worker, args=(2, free_port(), cora, str(tmp_path)), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert int((~a["keep"]).sum()) == round(0.05 * 5278)
    assert torch.equal(a["keep"], b["keep"])
    assert all(torch.equal(a["masks"][n], b["masks"][n]) for n in a["masks"])
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
    assert a["test"] == b["test"]

    ticket = Ticket.load(tmp_path / "round_01.pt")
    assert ticket.config["world_size"] == 2
    single = MiniBatchUGS(GCN(cora.num_features, 16, 2, 7), cora, batch_size=20, num_neighbors=[5, 5])
    with pytest.raises(TicketError, match="mismatched world sizes.*saved by 2 process.*resumed on 1"):
        single.load_ticket(ticket)


def link_worker(rank: int, world: int, port: int, data, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.manual_seed(rank)
        ugs = DistributedUGS(GCN(data.num_features, 16, 2, 8), data, LinkPrediction(data), batch_size=600,
                             num_neighbors=[5, 5], mask_epochs=4, retrain_epochs=3)
        record = ugs.step()
        torch.save({"keep": ugs.graph.keep, "state": ugs.model.state_dict(), "test": record["test"]},
                   f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_processes_agree_on_link_prediction(cora, tmp_path):
    data = link_split(cora)
    mp.spawn(link_worker, args=(2, free_port(), data, str(tmp_path)), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert int((~a["keep"]).sum()) == round(0.05 * (data.edge_index.size(1) // 2))
    assert torch.equal(a["keep"], b["keep"]) and a["test"] == b["test"]
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])


def driver(rank: int, world: int, port: int, out: str, elsewhere: str | None = None) -> None:
    import os

    from graphlottery.config import GLTConfig
    from graphlottery.lottery import run_glt

    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    config = GLTConfig(dataset="Cora", hidden=16, batch_size=35, num_neighbors=[5, 5], distributed=True, rounds=1,
                       mask_epochs=3, retrain_epochs=2, random_baseline=False)
    try:
        run_glt(config, elsewhere if rank == 1 and elsewhere else out, progress=False)
    finally:
        dist.destroy_process_group()


def test_the_glt_driver_runs_on_two_processes(tmp_path):
    mp.spawn(driver, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    ticket = Ticket.load(tmp_path / "seed_0" / "round_01.pt")
    assert ticket.config["world_size"] == 2 and int((~ticket.edge_mask).sum()) == 2 * round(0.05 * 5278)
    assert (tmp_path / "results.json").is_file()
    # resumed, with one process that cannot see the run's folder: refused instead of a hang
    with pytest.raises(mp.ProcessRaisedException, match=r"when resuming .* in \['finished_rounds'\]"):
        mp.spawn(driver, args=(2, free_port(), str(tmp_path), str(tmp_path / "elsewhere")), nprocs=2, join=True)


def disagreeing(rank: int, world: int, port: int, data, what: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        epochs = 4 if what == "options" and rank == 1 else 3
        ugs = DistributedUGS(GCN(data.num_features, 8, 2, 7), data, batch_size=20, num_neighbors=[5, 5],
                             mask_epochs=epochs, retrain_epochs=epochs)
        if rank == 1:  # e.g. a process that found no saved rounds to resume from
            ugs.round = 2
        ugs.dense()
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("what, named", [
    ("options", r"at construction in \['mask_epochs', 'retrain_epochs'\]"),
    ("round", r"at the start of a round in \['round'\].*'round': \((0, 2|2, 0)\)"),
])
def test_processes_that_disagree_fail_instead_of_hanging(cora, what, named):
    with pytest.raises(mp.ProcessRaisedException, match=named):
        mp.spawn(disagreeing, args=(2, free_port(), cora, what), nprocs=2, join=True)


def test_distributed_ugs_needs_a_process_group(cora):
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedUGS(GCN(cora.num_features, 8, 2, 7), cora)
