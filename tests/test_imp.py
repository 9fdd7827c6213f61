import json

import pytest
import torch

from graphlottery import Ticket
from graphlottery.config import ConfigError
from graphlottery.lottery.imp import IMPConfig, run_imp


def tiny(**overrides):
    values = {"dataset": "digits", "width": 4, "epochs": 5, "lr": 0.01, "rounds": 2, "seeds": [0]}
    return IMPConfig(**{**values, **overrides})


def test_imp_prunes_exactly_and_resumes_identically(tmp_path):
    full = run_imp(tiny(), tmp_path / "full", progress=False)
    sparsities = [r["sparsity"] for r in full["rounds"]]
    assert sparsities[0] == 0.0
    assert sparsities[1] == pytest.approx(0.2, abs=1e-4) and sparsities[2] == pytest.approx(0.36, abs=1e-4)
    assert full["rounds"][0]["test"] > 0.8  # 5 epochs of a 4-channel ResNet already learn the digits
    ticket = Ticket.load(tmp_path / "full" / "seed_0" / "round_02.pt")
    kept = sum(int(m.sum()) for m in ticket.weight_masks.values())
    total = sum(m.numel() for m in ticket.weight_masks.values())
    assert kept == total - round(0.2 * total) - round(0.2 * (total - round(0.2 * total)))
    assert set(ticket.weight_masks) >= {"stem.0.weight", "fc.weight"}  # conv and linear layers
    # an interrupted run (round 1 only) continued to round 2 gives the same numbers
    run_imp(tiny(rounds=1), tmp_path / "split", progress=False)
    resumed = run_imp(tiny(), tmp_path / "split", progress=False)
    strip = [{k: v for k, v in r.items() if k != "per_seed"} for r in resumed["rounds"]]
    assert strip == [{k: v for k, v in r.items() if k != "per_seed"} for r in full["rounds"]]
    history = json.loads((tmp_path / "full" / "seed_0" / "history.json").read_text())
    assert set(history[1]["random"]) == {"uniform", "erk"}


def test_imp_layerwise_prunes_every_layer_alike(tmp_path):
    run_imp(tiny(rounds=1, scope="layerwise", baselines=[]), tmp_path, progress=False)
    ticket = Ticket.load(tmp_path / "seed_0" / "round_01.pt")
    for name, mask in ticket.weight_masks.items():
        assert int((~mask).sum()) == round(0.2 * mask.numel()), name


def test_imp_config_errors():
    with pytest.raises(ConfigError, match="prune must be in"):
        tiny(prune=1.0)
    with pytest.raises(ConfigError, match="rewind_epoch"):
        tiny(rewind_epoch=5)
    with pytest.raises(ConfigError, match="baselines"):
        tiny(baselines=["snip"])
    with pytest.raises(ConfigError, match="scope"):
        tiny(scope="per-channel")
    with pytest.raises(ConfigError, match="unknown dataset"):
        tiny(dataset="cifar10")


def test_early_bird_draws_a_ticket_once_masks_settle():
    from graphlottery.lottery.imp import early_bird_ticket

    # two unrelated masks at 80% sparsity differ in 2 · 0.8 · 0.2 = 32% of the entries
    result = early_bird_ticket(tiny(epochs=12), seed=0, target=0.8, window=3, threshold=0.1)
    assert result["epoch"] is not None and result["epoch"] < 12  # stopped dense training early
    assert result["sparsity"] == pytest.approx(0.8, abs=1e-4)
    distances = result["distances"]
    assert len(distances) == result["epoch"] and distances[-1] < 0.1
    assert all(not d < 0.1 for d in distances[:-1])  # drawn at the first settled epoch
    assert result["test"] > 0.5
    never = early_bird_ticket(tiny(epochs=3), seed=0, target=0.5, window=2, threshold=0.0)
    assert never["epoch"] is None and len(never["distances"]) == 3


def test_early_bird_honours_scope_rewinding_and_refuses_kd(monkeypatch):
    from graphlottery.lottery import imp

    starts, masks = [], []
    train, set_hard = imp.train, imp.WeightMasks.set_hard

    def recording(model, data, config, keep_epoch=None, stop=None, teacher=None):
        if stop is None:  # the ticket's training: record the weights it starts from
            starts.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return train(model, data, config, keep_epoch=keep_epoch, stop=stop, teacher=teacher)

    def recording_masks(self, hard):
        masks.append({n: ~m for n, m in hard.items()})
        return set_hard(self, hard)

    monkeypatch.setattr(imp, "train", recording)
    monkeypatch.setattr(imp.WeightMasks, "set_hard", recording_masks)
    result = imp.early_bird_ticket(tiny(epochs=12, scope="layerwise", rewind_epoch=6), seed=0, target=0.5,
                                   window=2, threshold=0.2)
    assert result["epoch"] is not None and result["epoch"] < 6 and result["dense_epochs"] == 6
    for name, pruned in masks[0].items():  # the same fraction in every layer
        assert int(pruned.sum()) == round(0.5 * pruned.numel()), name

    def weights_after(epochs: int) -> dict:  # the dense run's weights after ``epochs`` epochs
        config = tiny(epochs=12)
        torch.manual_seed(0)
        model = imp.build_model(config)
        imp._phase_seed(0, 0, 0)
        return train(model, imp.load_digits(0), config, keep_epoch=epochs, stop=lambda e: e >= epochs)[1]

    # the ticket trains from the weights of epoch rewind_epoch = 6, although the mask settled earlier
    assert all(torch.equal(starts[0][k], v) for k, v in weights_after(6).items())
    fine_tuned = imp.early_bird_ticket(tiny(epochs=12, rewind=False), seed=0, target=0.5, window=2, threshold=0.2)
    assert fine_tuned["dense_epochs"] == fine_tuned["epoch"]  # rewind: false starts where it was drawn
    assert all(torch.equal(starts[1][k], v) for k, v in weights_after(fine_tuned["epoch"]).items())
    with pytest.raises(ConfigError, match="teacher"):
        imp.early_bird_ticket(tiny(kd=True), seed=0, target=0.5)


def test_distillation_loss_and_kd_tickets(tmp_path):
    import torch
    import torch.nn.functional as F

    from graphlottery.lottery.imp import distillation_loss

    logits, labels = torch.randn(8, 10), torch.randint(0, 10, (8,))
    teacher = torch.randn(8, 10)
    assert torch.allclose(distillation_loss(logits, labels, teacher, 5.0, 0.0), F.cross_entropy(logits, labels))
    assert float(distillation_loss(logits, labels, logits, 5.0, 1.0)) == pytest.approx(0.0, abs=1e-6)
    p, q = F.softmax(teacher / 5.0, -1), F.softmax(logits / 5.0, -1)
    kl = float((p * (p.log() - q.log())).sum(-1).mean())
    by_hand = 0.9 * 25.0 * kl + 0.1 * float(F.cross_entropy(logits, labels))
    assert float(distillation_loss(logits, labels, teacher, 5.0, 0.9)) == pytest.approx(by_hand, rel=1e-5)
    kd = run_imp(tiny(rounds=1, kd=True, baselines=[]), tmp_path / "kd", progress=False)
    plain = run_imp(tiny(rounds=1, baselines=[]), tmp_path / "plain", progress=False)
    assert kd["rounds"][0] == plain["rounds"][0]  # the dense teacher is the same model
    assert kd["rounds"][1]["sparsity"] == plain["rounds"][1]["sparsity"] and kd["rounds"][1]["test"] > 0.5
    assert kd["rounds"][1]["per_seed"][0]["val"] != plain["rounds"][1]["per_seed"][0]["val"] or \
        kd["rounds"][1]["per_seed"][0]["best_epoch"] != plain["rounds"][1]["per_seed"][0]["best_epoch"]
    with pytest.raises(ConfigError, match="kd_alpha"):
        tiny(kd=True, kd_alpha=2.0)


def test_channel_removal_is_exact_for_switched_off_channels():
    import torch

    from graphlottery.nn.vision import ResNetCNN, remove_channels

    torch.manual_seed(0)
    model = ResNetCNN(width=8, blocks=2).eval()
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():  # switch off the channels remove_channels will take: outputs must not change
        for bn in [model.stem[1], model.stages[0].bn2, model.stages[1].bn2]:
            bn.weight[4:], bn.bias[4:] = 0.0, 0.0
        for bn in [model.stages[2].shortcut[1], model.stages[2].bn2, model.stages[3].bn2]:
            bn.weight[8:], bn.bias[8:] = 0.0, 0.0
        for block in model.stages:
            block.bn1.weight[::2], block.bn1.bias[::2] = 0.0, 0.0
        expected = model(x)
        left = remove_channels(model, 0.5)
        assert torch.allclose(model(x), expected, atol=1e-6)
    assert left == {"stream_0": 4, "block_0_inner": 4, "block_1_inner": 4, "stream_1": 8, "block_2_inner": 8,
                    "block_3_inner": 8}
    assert model.stem[0].out_channels == 4 and model.fc.in_features == 8
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        remove_channels(model, 1.0)
    with pytest.raises(TypeError, match="supports ResNetCNN"):
        remove_channels(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3)), 0.5)


def test_shipped_imp_configs_load_and_build():
    from pathlib import Path

    from graphlottery.lottery.imp import build_model
    from graphlottery.nn.transformer import VisionTransformer
    from graphlottery.nn.vision import ResNetCNN

    configs = Path(__file__).resolve().parents[1] / "configs" / "imp"
    resnet = IMPConfig.from_yaml(configs / "digits_resnet.yaml")
    vit = IMPConfig.from_yaml(configs / "digits_vit.yaml")
    assert isinstance(build_model(resnet), ResNetCNN) and isinstance(build_model(vit), VisionTransformer)
    assert resnet.rounds == vit.rounds == 8 and resnet.baselines == ["uniform", "erk"]


def test_cnn_masks_round_trip_through_torch_prune():
    import torch
    from torch.nn.utils import prune as torch_prune

    from graphlottery.masks import WeightMasks, maskable_weights, random_masks
    from graphlottery.nn.vision import ResNetCNN

    torch.manual_seed(0)
    model = ResNetCNN(width=4).eval()
    names = maskable_weights(model, (torch.nn.Conv2d, torch.nn.Linear))
    shapes = {n: tuple(model.get_parameter(n).shape) for n in names}
    masks = WeightMasks(model, names).set_hard(random_masks(shapes, 0.6, "erk")).attach()
    x = torch.rand(3, 1, 8, 8)
    expected = model(x)
    saved = masks.hard_dict()
    masks.to_torch_prune()  # torch.nn.utils.prune now applies the same masks
    assert torch.allclose(model(x), expected) and isinstance(model.stem[0].weight_mask, torch.Tensor)
    back = WeightMasks.from_torch_prune(model)
    assert all(torch.equal(back.hard(n).cpu(), saved[n]) for n in names)
    assert not any(isinstance(h, torch_prune.BasePruningMethod) for m in model.modules()
                   for h in m._forward_pre_hooks.values())


def test_kd_ticket_without_rewinding_fine_tunes_the_trained_weights(tmp_path):
    fine_tuned = run_imp(tiny(rounds=1, kd=True, rewind=False, baselines=[]), tmp_path, progress=False)
    rewound = run_imp(tiny(rounds=1, kd=True, baselines=[]), tmp_path / "rewound", progress=False)
    assert fine_tuned["rounds"][1]["sparsity"] == rewound["rounds"][1]["sparsity"]
    assert fine_tuned["rounds"][1]["test"] != rewound["rounds"][1]["test"]  # different starting weights
    assert fine_tuned["rounds"][1]["test"] > 0.8  # pruning 20% of trained weights then fine-tuning keeps the skill
