"""Integrity: tickets and weights carry checksums; datasets are cached by content, checked against
SHA256SUMS and their known split sizes, and never run code from a data or cache file."""
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from graphlottery import GCN, Ticket, TicketError, WeightMasks
from graphlottery.data import load_planetoid, load_tu
from graphlottery.data.root import DataError
from graphlottery.lottery.ticket import load_weights, save_weights

SHARED = Path(os.environ.get("GRAPHLOTTERY_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


class Payload:
    """Unpickling this runs ``touch <marker>``: what a malicious data file would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def copy_root(tmp_path: Path, *folders: str, sums: bool = False) -> Path:
    """A private data root with ``folders`` of the shared one (and its SHA256SUMS lines for them)."""
    root = tmp_path / "root"
    for folder in folders:
        shutil.copytree(SHARED / folder, root / folder)
    if sums:
        lines = [line for line in (SHARED / "SHA256SUMS").read_text().splitlines()
                 if any(line.split("  ", 1)[1].startswith(f) for f in folders)]
        (root / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("GRAPHLOTTERY_CACHE", str(path))
    return path


def flip(path: Path, needle: bytes, count: int = 64) -> None:
    """Invert ``count`` bytes of ``path`` where ``needle`` (a tensor's raw bytes) is stored."""
    blob = bytearray(path.read_bytes())
    at = blob.find(needle)
    assert at >= 0
    blob[at:at + count] = bytes(b ^ 0xFF for b in blob[at:at + count])
    path.write_bytes(bytes(blob))


def test_a_ticket_with_flipped_bytes_is_refused_by_name(tmp_path):
    torch.manual_seed(0)
    model = GCN(6, 32, 2, 3)
    masks = WeightMasks(model)
    path = Ticket.capture(model, masks, model.state_dict()).save(tmp_path / "round_03.pt")
    Ticket.load(path)  # intact: loads
    flip(path, model.state_dict()["convs.0.lin.weight"].numpy().tobytes()[:64])
    with pytest.raises(TicketError, match=r"round_03\.pt.*damaged.*checksum"):
        Ticket.load(path)


def test_weights_files_are_checked_and_old_plain_ones_still_read(tmp_path):
    state = {"w": torch.randn(32, 8), "b": torch.zeros(8)}
    path = save_weights(state, tmp_path / "trained_02.pt")
    assert all(torch.equal(load_weights(path)[k], v) for k, v in state.items())
    flip(path, state["w"].numpy().tobytes()[:64])
    with pytest.raises(TicketError, match=r"trained_02\.pt.*damaged"):
        load_weights(path)
    torch.save(state, tmp_path / "plain.pt")  # written before checksums existed
    assert torch.equal(load_weights(tmp_path / "plain.pt")["w"], state["w"])
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 100)
    with pytest.raises(TicketError, match=r"junk\.pt.*not a readable weights file"):
        load_weights(tmp_path / "junk.pt")


def test_truncated_planetoid_test_index_is_refused(tmp_path, cache):
    root = copy_root(tmp_path, "Planetoid/Cora")
    index = root / "Planetoid/Cora/raw/ind.cora.test.index"
    index.write_text("\n".join(index.read_text().split()[:500]) + "\n")
    with pytest.raises(DataError, match=r"500 test|140/500/500.*not 2708 and 140/500/1000"):
        load_planetoid("Cora", root)


def test_files_differing_from_sha256sums_are_named(tmp_path, cache):
    root = copy_root(tmp_path, "TUDataset/MUTAG", sums=True)
    assert len(load_tu("MUTAG", root)) == 188
    labels = root / "TUDataset/MUTAG/raw/MUTAG_graph_labels.txt"
    labels.write_text(labels.read_text().replace("-1", "1", 1))
    with pytest.raises(DataError, match=r"MUTAG_graph_labels\.txt does not match .*SHA256SUMS"):
        load_tu("MUTAG", root)


def test_the_cache_is_keyed_by_content_not_by_name(tmp_path, cache):
    """Root B holds Cora with other labels: it gets its own labels, and root A's cached copy stays intact."""
    first = load_planetoid("Cora", SHARED)
    root = copy_root(tmp_path, "Planetoid/Cora")
    raw = root / "Planetoid/Cora/raw"
    for name in ("y", "ty", "ally"):  # swap classes 0 and 1 everywhere
        with open(raw / f"ind.cora.{name}", "rb") as f:
            labels = pickle.load(f, encoding="latin1")
        with open(raw / f"ind.cora.{name}", "wb") as f:
            pickle.dump(labels[:, [1, 0, *range(2, labels.shape[1])]], f)
    other = load_planetoid("Cora", root)
    swapped = first.y.clone()
    swapped[first.y == 0], swapped[first.y == 1] = 1, 0
    assert torch.equal(other.y, swapped) and not torch.equal(other.y, first.y)
    (raw / "ind.cora.test.index").write_text("1708\n")  # truncated: a new key, refused, nothing overwritten
    with pytest.raises(DataError):
        load_planetoid("Cora", root)
    again = load_planetoid("Cora", SHARED)
    assert torch.equal(again.y, first.y) and torch.equal(again.x, first.x)
    assert len(list((cache / "Planetoid").iterdir())) == 3


def test_raw_planetoid_pickles_cannot_run_code(tmp_path, cache):
    root = copy_root(tmp_path, "Planetoid/Cora")
    marker = tmp_path / "ran"
    with open(root / "Planetoid/Cora/raw/ind.cora.x", "wb") as f:
        pickle.dump(Payload(marker), f, protocol=2)
    with pytest.raises(DataError, match=r"ind\.cora\.x is damaged.*refusing to load posix\.system"):
        load_planetoid("Cora", root)
    assert not marker.exists()


def test_cache_files_cannot_run_code(tmp_path, cache):
    load_planetoid("Cora", SHARED)
    processed = next((cache / "Planetoid").iterdir()) / "Cora" / "processed"
    marker = tmp_path / "ran"
    for name in ("pre_transform.pt", "pre_filter.pt"):  # PyG reads these with weights_only=False
        torch.save(Payload(marker), processed / name)
    assert load_planetoid("Cora", SHARED).num_nodes == 2708
    assert not marker.exists()
    torch.save(Payload(marker), processed / "data.pt")
    with pytest.raises(DataError, match=r"processed cache file .*data\.pt is damaged"):
        load_planetoid("Cora", SHARED)
    assert not marker.exists()


def test_planetoid_reader_matches_the_files(cora):
    """The restricted reader builds the public split exactly: 2708 nodes, 140/500/1000, 10556 edges."""
    assert (cora.num_nodes, cora.edge_index.size(1)) == (2708, 10556)
    assert [int(cora[f"{p}_mask"].sum()) for p in ("train", "val", "test")] == [140, 500, 1000]
    assert np.allclose(cora.x.sum(1)[cora.x.sum(1) > 0].numpy(), 1.0)  # row-normalised
