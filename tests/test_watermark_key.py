"""Watermark keys cannot decide their own verdict, every key field is bounded, and an unproven
verification shows no payload."""
import json

import pytest
import torch

from graphlottery import Ticket
from graphlottery.cli import main
from graphlottery.masks import maskable_weights, random_masks
from graphlottery.nn.vision import ResNetCNN
from graphlottery.watermark import WatermarkError, WatermarkKey, embed_watermark, verify_watermark


def cnn_ticket(seed: int) -> Ticket:
    torch.manual_seed(seed)
    model = ResNetCNN(width=16)
    names = maskable_weights(model, (torch.nn.Linear, torch.nn.Conv2d))
    shapes = {n: tuple(model.get_parameter(n).shape) for n in names}
    masks = random_masks(shapes, 0.5, "uniform", generator=torch.Generator().manual_seed(seed))
    return Ticket(model_class="ResNetCNN", rewind=model.state_dict(), weight_masks=masks)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wm")
    marked, key = embed_watermark(cnn_ticket(0), "alice 2024", seed=7)
    marked.save(tmp / "marked.pt")
    cnn_ticket(1).save(tmp / "other.pt")  # never marked
    key.save(tmp / "key.json")
    return tmp


def edited(files, tmp_path, change) -> str:
    raw = json.loads((files / "key.json").read_text())
    change(raw)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(raw))
    return str(path)


def test_alpha_in_the_key_file_is_ignored(files, tmp_path, capsys):
    """Raising the key's alpha to 0.9 must not make an unmarked ticket verify."""
    key = edited(files, tmp_path, lambda raw: raw.update(alpha=0.9))
    assert main(["watermark", "verify", str(files / "other.pt"), "--key", key]) == 0
    out = capsys.readouterr().out
    assert "not verified" in out and "at alpha = 1e-06" in out
    result = verify_watermark(Ticket.load(files / "other.pt"), WatermarkKey.load(key))
    assert not result.verified and result.alpha == 1e-6
    assert verify_watermark(Ticket.load(files / "marked.pt"), WatermarkKey.load(key)).verified


def test_not_verified_output_shows_no_payload(files, capsys):
    assert main(["watermark", "verify", str(files / "other.pt"), "--key", str(files / "key.json")]) == 0
    out = capsys.readouterr().out
    report = json.loads(out.splitlines()[0])
    assert "payload" not in report and "not verified" in out
    assert main(["watermark", "verify", str(files / "marked.pt"), "--key", str(files / "key.json")]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[0])["payload"] == "alice 2024" and "VERIFIED" in out


@pytest.mark.parametrize("change, words", [
    (lambda raw: raw["carriers"][0].update(pairs=10**9), "pairs must be in [1,"),
    (lambda raw: raw["carriers"][0].update(pairs=-5), "pairs must be in [1,"),
    (lambda raw: raw["carriers"][0].update(pairs="5"), "pairs must be in [1,"),
    (lambda raw: raw["carriers"][0].update(shape=[10**6, 10**6]), "shape must list positive sizes"),
    (lambda raw: raw["carriers"][0].update(view="bogus"), "unknown view"),
    (lambda raw: raw["carriers"][0].update(node_fraction=2.0), "node_fraction"),
    (lambda raw: raw["carriers"][0].update(extra=1), "unexpected keyword"),
    (lambda raw: raw.update(seed=-1), "seed must be"),
    (lambda raw: raw.update(seed=2**70), "seed must be"),
    (lambda raw: raw.update(payload=[2, 0]), "payload must be"),
    (lambda raw: raw.update(payload=[1] * 10**5), "payload must be"),
    (lambda raw: raw.update(carriers=[]), "no carriers"),
    (lambda raw: raw.pop("seed"), "KeyError"),
])
def test_every_key_field_is_checked(files, tmp_path, capsys, change, words):
    key = edited(files, tmp_path, change)
    with pytest.raises(WatermarkError, match="damaged watermark key") as err:
        WatermarkKey.load(key)
    assert words in str(err.value)
    assert main(["watermark", "verify", str(files / "marked.pt"), "--key", key]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphlottery: error: ") and "edited.json" in lines[0]
