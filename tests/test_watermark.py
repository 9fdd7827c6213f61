"""Ticket watermarks: views, embedding invariants, verification, attacks, keys, CLI, triggers."""
import math
from dataclasses import replace

import pytest
import torch

from graphlottery import GCN, UGS, Ticket
from graphlottery.cli import main
from graphlottery.masks import WeightMasks, maskable_weights, random_masks
from graphlottery.nn.transformer import VisionTransformer
from graphlottery.nn.vision import ResNetCNN
from graphlottery.watermark import (
    TriggerSet,
    WatermarkError,
    WatermarkKey,
    add_trigger_nodes,
    cell_positions,
    connectivity,
    embed_watermark,
    input_triggers,
    prune_further,
    randomise,
    regrow_random,
    verify_triggers,
    verify_watermark,
)
from graphlottery.watermark.code import binomial_tail, bits_to_text, log10_binomial_tail, text_to_bits


@pytest.fixture(scope="module")
def cora_ticket(cora):
    """A real Cora GCN ticket after one short UGS round (5% of edges, 20% of weights pruned)."""
    torch.manual_seed(0)
    ugs = UGS(GCN(cora.num_features, 64, 2, 7), cora, lr=0.01, mask_epochs=20, retrain_epochs=20)
    ugs.step()
    ugs.step()
    return ugs.ticket({"dataset": "Cora"})


def _cnn_ticket(sparsity: float = 0.5) -> Ticket:
    torch.manual_seed(0)
    model = ResNetCNN(width=16)
    names = maskable_weights(model, (torch.nn.Linear, torch.nn.Conv2d))
    shapes = {n: tuple(model.get_parameter(n).shape) for n in names}
    masks = random_masks(shapes, sparsity, "uniform", generator=torch.Generator().manual_seed(0))
    return Ticket(model_class="ResNetCNN", rewind=model.state_dict(), weight_masks=masks)


def test_views_reduce_kernels_and_heads():
    mask = torch.zeros(4, 3, 3, 3, dtype=torch.bool)
    mask[1, 2, 0, 1] = True
    assert connectivity(mask).shape == (4, 3) and connectivity(mask).nonzero().tolist() == [[1, 2]]
    assert connectivity(mask, "entries").shape == (4, 27)
    q = torch.zeros(8, 5, dtype=torch.bool)  # 2 heads of 4 rows
    q[6, 3] = True
    assert connectivity(q, "heads_out:2").nonzero().tolist() == [[1, 3]]
    out = torch.zeros(5, 8, dtype=torch.bool)
    out[2, 5] = True
    assert connectivity(out, "heads_in:2").nonzero().tolist() == [[2, 1]]
    assert cell_positions((8, 5), "heads_out:2").shape == (2, 5, 4)
    with pytest.raises(ValueError, match="divisible"):
        cell_positions((8, 5), "heads_out:3")
    with pytest.raises(ValueError, match="unknown view"):
        cell_positions((8, 5), "rows")
    with pytest.raises(ValueError, match="at least 2"):
        cell_positions((8,))


def test_code_statistics_are_exact():
    assert bits_to_text(text_to_bits("ticket ✓")) == "ticket ✓"
    assert binomial_tail(3, 3) == pytest.approx(1 / 8)
    assert binomial_tail(2, 4) == pytest.approx(11 / 16)
    assert binomial_tail(0, 5) == 1.0 and binomial_tail(6, 5) == 0.0
    assert log10_binomial_tail(1000, 1000) == pytest.approx(-1000 * math.log10(2))  # no underflow
    with pytest.raises(ValueError, match="empty"):
        text_to_bits("")


def test_gcn_ticket_embeds_exactly_and_verifies(cora, cora_ticket):
    marked, key = embed_watermark(cora_ticket, "alice", seed=3, graph=cora)
    for name, mask in cora_ticket.weight_masks.items():  # every layer keeps exactly its count
        assert int(marked.weight_masks[name].sum()) == int(mask.sum())
    assert int(marked.edge_mask.sum()) == int(cora_ticket.edge_mask.sum())
    assert [c.name for c in key.carriers][-1] == "graph"
    torch.testing.assert_close(marked.rewind, cora_ticket.rewind)
    own = verify_watermark(marked, key, graph=cora)
    assert own.verified and own.payload == "alice" and own.bit_error_rate == 0.0
    assert own.agree == own.informative == key.num_pairs and own.log10_p_value < -100
    unmarked = verify_watermark(cora_ticket, key, graph=cora)  # the same ticket before embedding
    assert not unmarked.verified and unmarked.p_value > 1e-3
    weights_only = verify_watermark(marked, key)
    assert weights_only.verified and weights_only.skipped == ["graph"]


def test_signature_survives_attacks_and_random_masks_never_verify(cora, cora_ticket):
    marked, key = embed_watermark(cora_ticket, "alice", seed=3, graph=cora)
    generator = torch.Generator().manual_seed(1)
    weights = {n: torch.randn(m.shape, generator=generator) for n, m in marked.weight_masks.items()}
    for fraction in (0.1, 0.5):
        pruned = prune_further(marked.weight_masks, fraction, weights)
        kept = sum(int(m.sum()) for m in pruned.values())
        assert kept == round((1 - fraction) * sum(int(m.sum()) for m in marked.weight_masks.values()))
        assert verify_watermark(replace(marked, weight_masks=pruned), key, graph=cora).verified
    regrown = regrow_random(marked.weight_masks, 0.3, generator)
    assert verify_watermark(replace(marked, weight_masks=regrown), key, graph=cora).verified
    layer = max(marked.weight_masks, key=lambda n: marked.weight_masks[n].numel())
    replaced = randomise(marked.weight_masks, [layer], generator)
    assert int(replaced[layer].sum()) == int(marked.weight_masks[layer].sum())
    assert verify_watermark(replace(marked, weight_masks=replaced), key, graph=cora).verified  # other carriers
    forged, thief = embed_watermark(marked, "mallory", seed=99, graph=cora)
    assert verify_watermark(forged, key, graph=cora).verified  # the owner's survives a second signature
    assert not verify_watermark(marked, thief, graph=cora).verified  # the thief's is absent from the original
    p_values = []
    for _ in range(200):
        masks = randomise(marked.weight_masks, list(marked.weight_masks), generator)
        result = verify_watermark(replace(marked, weight_masks=masks), key)
        assert not result.verified
        p_values.append(result.p_value)
    assert 0.0 <= sum(p < 0.05 for p in p_values) / 200 <= 0.1  # a calibrated null, not just a high bar


def test_cnn_and_transformer_tickets(tmp_path):
    ticket = _cnn_ticket()
    marked, key = embed_watermark(ticket, "cnn owner", seed=5)
    views = {c.name: c.view for c in key.carriers}
    assert views["stages.1.conv2.weight"] == "entries"  # kernels of a 50%-sparse conv are all but never empty
    for name, mask in ticket.weight_masks.items():
        assert int(marked.weight_masks[name].sum()) == int(mask.sum())
    model = ResNetCNN(width=16)
    masks = WeightMasks(model, list(ticket.weight_masks)).set_hard(marked.weight_masks)
    assert verify_watermark(masks, key).verified
    masks.attach()
    assert verify_watermark(model, key).verified  # a model with its masks attached
    with pytest.raises(WatermarkError, match="no weight 'stem.0.weight'"):
        verify_watermark(torch.nn.Sequential(model), key)  # wrapped: its weights are named "0.stem..."
    masks.detach()
    with pytest.raises(ValueError, match="alpha"):
        verify_watermark(masks, key, alpha=1.0)
    state = {n: model.get_parameter(n).detach() * marked.weight_masks[n] for n in marked.weight_masks}
    assert verify_watermark(state, key).payload == "cnn owner"  # a released dense state_dict with zeros

    kernel, kernel_key = embed_watermark(ticket, "k", seed=5, layers=["stages.1.conv2.weight"],
                                         views={"stages.1.conv2.weight": "auto"}, pairs=64)
    (pairs,) = [kernel_key.weight_pairs(c) for c in kernel_key.carriers]
    cells = connectivity(kernel.weight_masks["stages.1.conv2.weight"]).reshape(-1)[pairs]
    assert bool((cells[:, 0] != cells[:, 1]).all())  # one kept kernel and one empty kernel per pair

    vit = VisionTransformer(num_classes=10, dim=32, depth=1, heads=4, hidden=64)
    names = maskable_weights(vit)
    shapes = {n: tuple(vit.get_parameter(n).shape) for n in names}
    vt = Ticket("VisionTransformer", vit.state_dict(), random_masks(shapes, 0.5, "uniform",
                                                                    generator=torch.Generator().manual_seed(0)))
    q = "blocks.0.attn.q.weight"
    marked_vit, vit_key = embed_watermark(vt, "vit", seed=1, layers=[q, "blocks.0.ffn.fc1.weight"],
                                          views={q: "heads_out:4"}, pairs=24)
    assert vit_key.carrier(q).view == "heads_out:4"
    assert verify_watermark(marked_vit, vit_key).verified


def test_bad_inputs_raise_clear_errors(tmp_path, cora, citeseer, cora_ticket):
    ticket = _cnn_ticket()
    marked, key = embed_watermark(ticket, "x", seed=1)
    with pytest.raises(WatermarkError, match="larger than"):
        embed_watermark(ticket, "x", seed=1, layers=["fc.weight"], pairs={"fc.weight": 1000})
    with pytest.raises(ValueError, match="payload of"):
        embed_watermark(ticket, "a payload far longer than the capacity" * 20, seed=1, pairs=8)
    with pytest.raises(WatermarkError, match="no weight mask"):
        embed_watermark(ticket, "x", seed=1, layers=["nope.weight"])
    with pytest.raises(WatermarkError, match="another architecture"):
        verify_watermark(cora_ticket, key)  # a CNN key on a GCN ticket
    wrong_shape = dict(marked.weight_masks)
    wrong_shape["fc.weight"] = torch.ones(3, 3, dtype=torch.bool)
    with pytest.raises(WatermarkError, match="shape"):
        verify_watermark(wrong_shape, key)
    gnn_marked, gnn_key = embed_watermark(cora_ticket, "x", seed=1, graph=cora)
    with pytest.raises(WatermarkError, match="another graph"):
        verify_watermark(gnn_marked, gnn_key, graph=citeseer, edge_mask=torch.ones(citeseer.num_edges,
                                                                                   dtype=torch.bool))
    with pytest.raises(WatermarkError, match="not the ticket's graph"):
        embed_watermark(cora_ticket, "x", seed=1, graph=citeseer)
    path = key.save(tmp_path / "key.json")
    loaded = WatermarkKey.load(path)
    assert verify_watermark(marked, loaded).log10_p_value == verify_watermark(marked, key).log10_p_value
    (tmp_path / "bad.json").write_text('{"format": "graphlottery-watermark-key", "version": 1, "seed": 1}')
    with pytest.raises(WatermarkError, match="damaged"):
        WatermarkKey.load(tmp_path / "bad.json")
    (tmp_path / "junk.json").write_bytes(b"\x00\x01not json")
    with pytest.raises(WatermarkError, match="not a watermark key"):
        WatermarkKey.load(tmp_path / "junk.json")


def test_trigger_set_p_values_and_trigger_nodes(cora):
    triggers = input_triggers(cora.x, 40, 7, seed=3)
    assert triggers.inputs.shape == (40, cora.num_features)
    exact = torch.nn.functional.one_hot(triggers.labels, 7).float()
    assert verify_triggers(exact, triggers).verified
    unrelated = verify_triggers(torch.randn(40, 7, generator=torch.Generator().manual_seed(0)), triggers)
    assert not unrelated.verified and unrelated.p_value > 1e-3
    with pytest.raises(ValueError, match="expected logits"):
        verify_triggers(torch.zeros(40, 3), triggers)
    extended, nodes = add_trigger_nodes(cora, triggers)
    assert extended.num_nodes == cora.num_nodes + 40 and nodes.tolist() == list(range(2708, 2748))
    assert not extended.train_mask[nodes].any() and extended.edge_index.equal(cora.edge_index)
    with pytest.raises(ValueError, match="features"):
        add_trigger_nodes(cora, TriggerSet(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), 7))


def test_cli_embeds_and_verifies_ticket_files(tmp_path, capsys, cora_ticket):
    cora_ticket.save(tmp_path / "ticket.pt")
    args = ["watermark", "embed", str(tmp_path / "ticket.pt"), "--payload", "bob", "--seed", "11",
            "--key", str(tmp_path / "key.json"), "--out", str(tmp_path / "marked.pt")]
    assert main(args) == 0
    assert "graph" in capsys.readouterr().out
    assert main(["watermark", "verify", str(tmp_path / "marked.pt"), "--key", str(tmp_path / "key.json")]) == 0
    assert "VERIFIED" in capsys.readouterr().out
    assert main(["watermark", "verify", str(tmp_path / "ticket.pt"), "--key", str(tmp_path / "key.json")]) == 0
    assert "not verified" in capsys.readouterr().out
    assert main(["watermark", "verify", str(tmp_path / "marked.pt"), "--key", str(tmp_path / "nope.json")]) == 2
    marked = Ticket.load(tmp_path / "marked.pt")  # a released state_dict: pruned weights are zero
    torch.save({n: w * marked.weight_masks[n] if n in marked.weight_masks else w for n, w in marked.rewind.items()},
               tmp_path / "released.pt")
    assert main(["watermark", "verify", str(tmp_path / "released.pt"), "--key", str(tmp_path / "key.json")]) == 0
    out = capsys.readouterr().out
    assert "VERIFIED" in out and "not read: graph" in out
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert main(["watermark", "verify", str(tmp_path / "junk.pt"), "--key", str(tmp_path / "key.json")]) == 2
