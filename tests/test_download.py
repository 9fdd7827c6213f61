"""Downloads through the real code against a local HTTP server on 127.0.0.1 (these machines have no
internet): Cora's real files, checksums, offline mode, an unreachable server, and generated NCI109 /
ogbg-molbbbp archives in their upstream formats run from the bundled configs."""
import gzip
import http.server
import os
import shutil
import socket
import threading
import urllib.parse
import zipfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from torch_geometric.datasets import Planetoid, TUDataset

from graphlottery.cli import main
from graphlottery.config import ConfigError, GLTConfig
from graphlottery.data import load_planetoid, load_tu
from graphlottery.data.download import MIRROR_ENV, OFFLINE_ENV, DownloadError, OfflineError
from graphlottery.data.root import DataError

SHARED = Path(os.environ.get("GRAPHLOTTERY_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CORA = sorted((SHARED / "Planetoid" / "Cora" / "raw").iterdir())


def _upstream_path(url: str) -> str:
    return urllib.parse.urlsplit(url).path.lstrip("/")


def _zip(path: Path, folder: Path) -> None:
    """``folder`` zipped as ``path`` with its name as the top folder, as TU and OGB publish them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(folder.parent))


def write_tu(folder: Path, name: str, graphs: int = 40, seed: int = 0) -> None:
    """A TU dataset in the collection's text format: rings of 4-7 nodes whose node labels follow
    the graph's class, so a GIN can tell the classes apart."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    edges, indicator, node_labels, labels, start = [], [], [], [], 1
    for g in range(graphs):
        n, label = int(rng.integers(4, 8)), g % 2
        for i in range(n):
            j = (i + 1) % n
            edges += [(start + i, start + j), (start + j, start + i)]
        indicator += [g + 1] * n
        node_labels += list(rng.integers(0, 2, n) + 2 * label)
        labels.append(label)
        start += n
    (folder / f"{name}_A.txt").write_text("".join(f"{u}, {v}\n" for u, v in edges))
    (folder / f"{name}_graph_indicator.txt").write_text("".join(f"{g}\n" for g in indicator))
    (folder / f"{name}_graph_labels.txt").write_text("".join(f"{y}\n" for y in labels))
    (folder / f"{name}_node_labels.txt").write_text("".join(f"{x}\n" for x in node_labels))


def _csv(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        f.writelines(",".join(str(int(v)) for v in np.atleast_1d(row)) + "\n" for row in rows)


def write_ogb_molecules(folder: Path, graphs: int = 60, seed: int = 0) -> None:
    """An OGB molecule dataset as OGB's zips hold it: ``raw/`` (chains of 3-8 atoms, 9 integer atom
    and 3 bond features, one binary label following the atoms), ``split/scaffold/``,
    ``mapping/`` and ``RELEASE_v1.txt``."""
    rng = np.random.default_rng(seed)
    nodes = rng.integers(3, 9, graphs)
    labels = np.arange(graphs) % 2
    atoms = np.zeros((int(nodes.sum()), 9), dtype=np.int64)
    atoms[:, 0] = np.repeat(labels * 5, nodes) + rng.integers(0, 5, int(nodes.sum()))
    edges = np.concatenate([np.stack([np.arange(n - 1), np.arange(1, n)], 1) for n in nodes])
    _csv(folder / "raw" / "edge.csv.gz", edges)
    _csv(folder / "raw" / "edge-feat.csv.gz", np.zeros((len(edges), 3), dtype=np.int64))
    _csv(folder / "raw" / "node-feat.csv.gz", atoms)
    _csv(folder / "raw" / "graph-label.csv.gz", labels)
    _csv(folder / "raw" / "num-node-list.csv.gz", nodes)
    _csv(folder / "raw" / "num-edge-list.csv.gz", nodes - 1)
    for part, index in zip(("train", "valid", "test"), np.split(rng.permutation(graphs), [36, 48])):
        _csv(folder / "split" / "scaffold" / f"{part}.csv.gz", np.sort(index))
    (folder / "mapping").mkdir()
    (folder / "mapping" / "README.md").write_text("generated test data\n")
    (folder / "RELEASE_v1.txt").write_text("generated test data in OGB's layout\n")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    timeout = 10  # a stuck client cannot hold the server thread longer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def upstream(tmp_path, monkeypatch):
    """A local HTTP server whose paths are those of the upstream URLs (copies of the shared data and
    generated archives under ``tmp_path``); downloads on and pointed at it. Returns the mirror folder."""
    from graphlottery.data.ogb import ogb_info

    mirror = tmp_path / "mirror"
    planetoid = mirror / _upstream_path(Planetoid.url)
    planetoid.mkdir(parents=True)
    for f in CORA:
        shutil.copyfile(f, planetoid / f.name)
    write_tu(tmp_path / "gen" / "NCI109", "NCI109")
    _zip(mirror / _upstream_path(f"{TUDataset.url}/NCI109.zip"), tmp_path / "gen" / "NCI109")
    info = ogb_info("ogbg-molbbbp")
    write_ogb_molecules(tmp_path / "gen" / info["download_name"])
    _zip(mirror / _upstream_path(info["url"]), tmp_path / "gen" / info["download_name"])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(mirror)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    yield mirror
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _empty_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


def _left(root: Path) -> list[str]:
    """What a download left in ``root`` besides its hidden lock files."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.name.endswith(".lock"))


def test_cora_downloads_into_an_empty_root_and_loads(upstream, tmp_path, monkeypatch):
    root = _empty_root(tmp_path)
    out = tmp_path / "run"  # the command a new user types, fetching Cora into the empty root
    assert main(["glt", "cora_gcn", "--data-root", str(root), "--out", str(out), "--rounds", "1", "--epochs", "1",
                 "--seeds", "0", "--no-baseline", "--quiet"]) == 0
    assert (out / "results.json").is_file()
    cora = load_planetoid("Cora", root)
    assert cora.num_nodes == 2708 and int(cora.train_mask.sum()) == 140
    raw = root / "Planetoid" / "Cora" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == [f.name for f in CORA]
    assert all((raw / f.name).read_bytes() == f.read_bytes() for f in CORA)
    assert not [p for p in root.iterdir() if p.name.startswith(".download")]
    monkeypatch.setenv(OFFLINE_ENV, "1")  # now under the root: no download needed
    assert load_planetoid("Cora", root).num_nodes == 2708


def test_a_tampered_download_is_refused_and_leaves_nothing(upstream, tmp_path):
    served = upstream / _upstream_path(f"{Planetoid.url}/ind.cora.graph")
    data = bytearray(served.read_bytes())
    data[len(data) // 2] ^= 1
    served.write_bytes(bytes(data))
    root = _empty_root(tmp_path)
    with pytest.raises(DataError, match=r"ind\.cora\.graph has SHA-256 \w+, not the known \w+: the download is "
                                        r"damaged or altered; nothing was installed"):
        load_planetoid("Cora", root)
    assert _left(root) == []


def test_offline_refuses_naming_the_dataset_and_the_paths(upstream, tmp_path, monkeypatch, capsys):
    root = _empty_root(tmp_path)
    monkeypatch.setenv(OFFLINE_ENV, "1")
    with pytest.raises(OfflineError, match=r"Cora is not under the data root .* downloads are off .*searched "
                                           r".*Planetoid/Cora/raw"):
        load_planetoid("Cora", root)
    monkeypatch.delenv(OFFLINE_ENV)
    out = tmp_path / "run"
    code = main(["glt", "cora_gcn", "--offline", "--data-root", str(root), "--out", str(out), "--rounds", "1",
                 "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Cora is not under the data root" in err and "--offline" in err and err.count("\n") == 1
    assert not out.exists() and _left(root) == []


def test_an_unreachable_server_is_one_clear_error(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{port}")
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    root = _empty_root(tmp_path)
    with pytest.raises(DownloadError, match=rf"cannot download http://127\.0\.0\.1:{port}/kimiyoung/planetoid/raw/"
                                            r"master/data/ind\.cora\.\w+ \(.*refused.*\); check the network"):
        load_planetoid("Cora", root)
    assert _left(root) == []


def test_any_tu_name_downloads_and_runs_from_its_config(upstream, tmp_path):
    root = _empty_root(tmp_path)
    dataset = load_tu("NCI109", root)
    assert len(dataset) == 40 and dataset.num_classes == 2 and dataset.num_node_features == 4
    assert (root / "TUDataset" / "NCI109" / "raw" / "NCI109_A.txt").is_file()
    with pytest.raises(ValueError, match=r"unknown TU dataset 'NCI110' .*HTTP 404"):
        load_tu("NCI110", root)
    assert GLTConfig(dataset="NCI109", task="graph").dataset == "NCI109"
    with pytest.raises(ConfigError, match="unknown dataset 'NCI109' for task 'node' .*needs task: graph"):
        GLTConfig(dataset="NCI109", task="node")
    out = tmp_path / "run"
    assert main(["glt", "nci109_gin", "--data-root", str(root), "--out", str(out), "--rounds", "1", "--epochs", "2",
                 "--no-baseline", "--quiet"]) == 0
    assert (out / "results.json").is_file()


def test_ogb_names_come_from_ogbs_master_list(upstream, tmp_path):
    from graphlottery.data.ogb import OGBG, OGBL, OGBL_METRIC, OGBN, OGBN_METRIC, load_ogbg, ogb_info

    info = ogb_info("ogbg-molbbbp")
    assert (info["task type"], info["eval metric"], info["num tasks"]) == ("binary classification", "rocauc", "1")
    assert {"ogbg-molbace", "ogbg-molbbbp", "ogbg-molhiv"} <= set(OGBG)
    names = {"acc": "accuracy", "rocauc": "roc_auc"}
    assert all(names[ogb_info(n)["eval metric"]] == OGBN_METRIC[n] for n in OGBN)
    assert all(ogb_info(n)["eval metric"] == OGBL_METRIC[n] for n in OGBL)
    with pytest.raises(ConfigError, match=r"unknown OGB graph dataset 'ogbg-moltox21': OGB lists it \(binary "
                                          r"classification, 12 task\(s\), metric rocauc\)"):
        GLTConfig(dataset="ogbg-moltox21", task="graph")
    with pytest.raises(ValueError, match="not in OGB's master list"):
        ogb_info("ogbg-nope")
    root = _empty_root(tmp_path)
    dataset, split = load_ogbg("ogbg-molbbbp", root)
    assert len(dataset) == 60 and {k: v.numel() for k, v in split.items()} == {"train": 36, "val": 12, "test": 12}
    assert (root / "ogb" / "ogbg_molbbbp" / "raw" / "edge.csv.gz").is_file()
    out = tmp_path / "run"
    assert main(["glt", "molbbbp_gin", "--data-root", str(root), "--out", str(out), "--rounds", "1", "--epochs", "2",
                 "--seeds", "0", "--no-baseline", "--quiet"]) == 0
    assert '"metric": "roc_auc"' in (out / "results.json").read_text()
