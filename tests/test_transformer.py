import pytest
import torch
import torch.nn.functional as F

from graphlottery.data.digits import load_digits
from graphlottery.masks import WeightMasks
from graphlottery.nn.transformer import TransformerBlock, VisionTransformer, gate_penalty, prune_heads_and_neurons


def test_removing_heads_and_neurons_keeps_the_function_of_what_stays():
    torch.manual_seed(0)
    block = TransformerBlock(dim=16, heads=4, hidden=32).eval()
    x = torch.randn(3, 5, 16)
    with torch.no_grad():
        block.attn.head_gate.copy_(torch.tensor([0.0, 1.5, 0.01, -2.0]))
        block.ffn.neuron_gate.copy_(torch.linspace(-1, 1, 32))
        block.ffn.neuron_gate[torch.arange(0, 32, 4)] = 0.0  # 8 neurons switched off
        expected = block(x)
        left = prune_heads_and_neurons(block, heads=0.25, neurons=0.25)
        assert left == {"heads": 3, "neurons": 24}
        assert block.attn.q.out_features == 3 * 4 and block.ffn.fc1.out_features == 24
        # only a head with coefficient 0 and neurons with coefficient 0 went: same outputs
        assert torch.allclose(block(x), expected, atol=1e-5)
        prune_heads_and_neurons(block, heads=0.5, neurons=0.5)
        assert block.attn.heads == 1 and block.ffn.fc1.out_features == 12  # round(1.5) = 2 of 3 heads go


def test_pruning_rejects_bad_input():
    block = TransformerBlock(dim=8, heads=2, hidden=8)
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        prune_heads_and_neurons(block, heads=1.0, neurons=0.0)
    with pytest.raises(ValueError, match="cannot remove every head"):
        block.attn.remove_heads(torch.zeros(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="boolean \\[8\\]"):
        block.ffn.remove_neurons(torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="no attention heads"):
        gate_penalty(torch.nn.Linear(3, 3))
    prune_heads_and_neurons(block, heads=0.9, neurons=0.9)  # at least one head and neuron stay
    assert block.attn.heads == 1 and block.ffn.fc1.out_features == 1
    with pytest.raises(ValueError, match="neuron_scope"):
        prune_heads_and_neurons(block, heads=0.0, neurons=0.5, neuron_scope="block")


def test_ffn_neurons_are_ranked_across_layers_by_default():
    """EarlyBERT removes the FFN neurons with the smallest coefficients over all layers together."""
    model = VisionTransformer(dim=8, depth=2, heads=2, hidden=8)
    with torch.no_grad():
        model.blocks[0].ffn.neuron_gate.copy_(torch.arange(1.0, 9.0) / 100)  # all below layer 1's
        model.blocks[1].ffn.neuron_gate.copy_(torch.arange(1.0, 9.0))
    left = prune_heads_and_neurons(model, heads=0.0, neurons=0.5)
    assert left["neurons"] == 8  # 8 of 16 go: layer 0's seven smallest, then layer 1's smallest
    assert [b.ffn.fc1.out_features for b in model.blocks] == [1, 7]
    assert model.blocks[0].ffn.fc2.weight.shape[1] == 1
    untrained = VisionTransformer(dim=8, depth=3, heads=2, hidden=8)  # every coefficient still 1: a tie
    prune_heads_and_neurons(untrained, heads=0.0, neurons=0.5)
    assert [b.ffn.fc1.out_features for b in untrained.blocks] == [4, 4, 4]
    per_layer = VisionTransformer(dim=8, depth=2, heads=2, hidden=8)
    prune_heads_and_neurons(per_layer, heads=0.0, neurons=0.5, neuron_scope="layer")
    assert [b.ffn.fc1.out_features for b in per_layer.blocks] == [4, 4]


def test_earlybert_search_then_prune_on_digits():
    torch.manual_seed(0)
    data = load_digits(seed=0)
    x, y, train, test = data["x"], data["y"], data["train"], data["test"]
    model = VisionTransformer(dim=32, depth=2, heads=4, hidden=64)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(8):
        for batch in train[torch.randperm(train.numel())].split(64):
            optimizer.zero_grad()
            (F.cross_entropy(model(x[batch]), y[batch]) + 1e-4 * gate_penalty(model)).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        dense = float((model(x[test]).argmax(-1) == y[test]).float().mean())
        prune_heads_and_neurons(model, heads=0.5, neurons=0.5)
        pruned = float((model(x[test]).argmax(-1) == y[test]).float().mean())
    assert dense > 0.85
    assert pruned > 0.6  # before any fine-tuning; half the heads and half the neurons are gone
    assert sum(b.attn.heads for b in model.blocks) == 4
    WeightMasks(model)  # the pruned model's Linear layers still take weight masks
