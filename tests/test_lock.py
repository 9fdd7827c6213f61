"""One run per output folder, and writes that are atomic, unique and durable."""
import json
import os
import threading

import pytest
import torch
from filelock import FileLock

from graphlottery import GCN, Ticket, WeightMasks
from graphlottery.config import GLTConfig
from graphlottery.files import LOCK_NAME, RunFolderError, atomic_write, remove_temporaries, run_lock, write_json
from graphlottery.lottery.glt import run_glt


def test_a_second_run_on_a_folder_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    with run_lock(out):
        with pytest.raises(RunFolderError, match=rf"in use by process {os.getpid()} on .*started"):
            run_glt(GLTConfig(dataset="Cora", rounds=0, mask_epochs=1, retrain_epochs=1), out, progress=False)
    assert not (out / "config.yaml").exists()  # the refused run wrote nothing


def test_the_lock_is_held_for_the_whole_run_and_released_after(tmp_path, monkeypatch):
    out = tmp_path / "run"
    seen = []
    import graphlottery.lottery.glt as glt

    real = glt.run_seed

    def probing(*args, **kwargs):
        probe = FileLock(out / LOCK_NAME, timeout=0)  # another holder, as another process would be
        with pytest.raises(Exception, match="could not be acquired"):
            probe.acquire()
        seen.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(glt, "run_seed", probing)
    run_glt(GLTConfig(dataset="Cora", hidden=16, rounds=0, mask_epochs=2, retrain_epochs=2), out, progress=False)
    assert seen == [True]
    with run_lock(out):  # released once the run ended
        pass


def test_out_that_is_a_file_or_under_one_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "run"):
        with pytest.raises(RunFolderError, match="it or a parent is a file"):
            with run_lock(out):
                pass


def test_concurrent_writers_never_share_a_temporary_or_show_half_a_file(tmp_path):
    path = tmp_path / "history.json"
    write_json(path, list(range(10)))
    errors, stop = [], threading.Event()

    def writer(offset):
        try:
            for i in range(40):
                write_json(path, [offset + i] * 20_000)
        except Exception as err:  # a failed rename (a shared temporary) must fail the test
            errors.append(err)

    def reader():
        while not stop.is_set():
            try:
                value = json.loads(path.read_text())
                assert len(value) in (10, 20_000)
            except Exception as err:  # a half-written file
                errors.append(err)

    threads = [threading.Thread(target=writer, args=(k * 1000,)) for k in range(3)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json"]  # no temporaries left


def test_ticket_writes_fsync_the_file_and_the_folder_before_and_after_the_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(("fsync", os.path.isdir(f"/proc/self/fd/{fd}")))
                        or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: calls.append(("replace", None)) or real_replace(a, b))
    model = GCN(4, 8, 2, 3)
    Ticket.capture(model, WeightMasks(model), model.state_dict()).save(tmp_path / "round_00.pt")
    assert calls == [("fsync", False), ("replace", None), ("fsync", True)]


def test_a_killed_writer_leaves_a_temporary_the_next_holder_removes(tmp_path):
    class Killed(BaseException):
        pass

    def dies(f):
        f.write(b"half")
        raise Killed

    with pytest.raises(Killed):
        atomic_write(tmp_path / "results.json", dies)
    assert list(tmp_path.iterdir()) == []  # an exception cleans up; only kill -9 leaves one behind
    (tmp_path / ".results.json.abc123.tmp").write_bytes(b"half")  # what kill -9 leaves
    (tmp_path / "seed_0").mkdir()
    (tmp_path / "seed_0" / ".round_01.pt.x9.tmp").write_bytes(b"half")
    with run_lock(tmp_path):
        assert [p.name for p in tmp_path.rglob("*.tmp")] == []
    assert remove_temporaries(tmp_path) == 0
    torch.save({}, tmp_path / "keep.tmp")  # not one of ours (no leading dot): kept
    remove_temporaries(tmp_path)
    assert (tmp_path / "keep.tmp").exists()
