import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="session", autouse=True)
def data_env(tmp_path_factory):
    """Point the library at the shared datasets and a private cache for the whole session."""
    os.environ.setdefault("GRAPHLOTTERY_DATA", str(DEFAULT_DATA))
    os.environ["GRAPHLOTTERY_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["GRAPHLOTTERY_OFFLINE"] = "1"  # no test reaches the internet; test_download serves its own files
    torch.set_num_threads(min(2, torch.get_num_threads()))
    yield


@pytest.fixture(scope="session")
def cora(data_env):
    from graphlottery.data import load_planetoid

    return load_planetoid("Cora")


@pytest.fixture(scope="session")
def citeseer(data_env):
    from graphlottery.data import load_planetoid

    return load_planetoid("CiteSeer")


@pytest.fixture(params=DEVICES)
def device(request):
    """Every device this machine has: CPU always, CUDA when a GPU is present."""
    return torch.device(request.param)
