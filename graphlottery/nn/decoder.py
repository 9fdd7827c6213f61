"""Link decoders: score a node pair from its two embeddings."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class MLPDecoder(nn.Module):
    """MLP on the Hadamard product, as OGB's link prediction examples score pairs:

    .. math::
        s(u, v) = W_2\\,\\mathrm{ReLU}\\big(W_1 (z_u \\odot z_v) + b_1\\big) + b_2,
        \\quad W_1 \\in \\mathbb{R}^{d \\times d},\\ W_2 \\in \\mathbb{R}^{1 \\times d}.

    Both are ``nn.Linear``, so weight masks cover them like any other layer. To be trained,
    rewound and saved with the encoder by UGS, register the decoder as a submodule of the encoder
    (``model.decoder = decoder``) and give the same module to
    :class:`~graphlottery.tasks.LinkPrediction`.

    Args:
        channels: the embedding width ``d``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.lin1 = nn.Linear(channels, channels)
        self.lin2 = nn.Linear(channels, 1)

    def forward(self, z: Tensor, pairs: Tensor) -> Tensor:
        """Logits ``[P]`` for the node pairs ``pairs`` (``[2, P]``) of the embeddings ``z`` (``[N, d]``)."""
        return self.lin2(F.relu(self.lin1(z[pairs[0]] * z[pairs[1]]))).view(-1)
