"""Graph encoders over dense, padded cells: ``(ops, adj)`` → per-node ``(mu, log_sigma)``.

GIN (Xu et al., "How Powerful are Graph Neural Networks?", ICLR 2019), as
arch2vec uses it: for ``l = 1..L``

.. math::
    H^{(l)} = \\mathrm{ReLU}\\big(\\mathrm{BN}(\\mathrm{MLP}^{(l)}((1+\\epsilon_l) H^{(l-1)} + \\tilde A H^{(l-1)}))\\big),
    \\quad \\mathrm{MLP} = \\mathrm{Linear}\\,\\mathrm{BN}\\,\\mathrm{ReLU}\\,\\mathrm{Linear},

with :math:`\\tilde A = A + \\mathrm{triu}(A, 1)^\\top` (the DAG made symmetric),
then per node :math:`\\mu = W_\\mu H^{(L)}` and :math:`\\log\\sigma = W_\\sigma H^{(L)}`.
The aggregation is PyTorch Geometric's :class:`~torch_geometric.nn.dense.DenseGINConv`.
The GCN variant (Kipf & Welling's (V)GAE) replaces each layer by
:math:`\\mathrm{ReLU}(D^{-1/2}(\\tilde A + I)D^{-1/2} (H W + b))`; it stays
hand-written because PyG's ``DenseGCNConv`` adds its bias *after* propagation
(and sets the diagonal rather than adding ``I``), a different function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init
from torch_geometric.nn.dense import DenseGINConv

ENCODERS = ("gin", "gcn")


def symmetrize(adj: torch.Tensor) -> torch.Tensor:
    """``A + triu(A, 1)ᵀ``: the encoder's view of a DAG's adjacency (arch2vec's preprocessing)."""
    return adj + adj.triu(1).transpose(-1, -2)


class NodeMLP(nn.Module):
    """GIN's update per node: ``ReLU(BN(Linear BN ReLU Linear(h)))`` on ``(B, N, F)`` features.

    Built uninitialised: :class:`GINLayer` (PyG's ``reset_parameters``)
    initialises it once, drawing the same random numbers as constructing the
    layers would.
    """

    def __init__(self, in_dim: int, hidden_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(skip_init(nn.Linear, in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(),
                                 skip_init(nn.Linear, hidden_dim, hidden_dim))  # fmt: skip
        self.norm = nn.BatchNorm1d(hidden_dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, n, _ = h.shape
        h = self.mlp(h.reshape(b * n, -1))
        return F.relu(self.norm(h)).reshape(b, n, -1)


class GINLayer(DenseGINConv):
    """One dense GIN layer, ``ReLU(BN(MLP((1+ε)x + Ãx)))`` with a trainable ``ε`` (initially 0).

    Its state dict keeps the names of the hand-written layer it replaced
    (``eps``, ``mlp.*``, ``norm.*`` rather than ``nn.mlp.*``), so checkpoints
    saved before load unchanged and a model's state digest is the same.
    """

    def __init__(self, in_dim: int, hidden_dim: int):
        super().__init__(NodeMLP(in_dim, hidden_dim), eps=0.0, train_eps=True)
        self.register_state_dict_post_hook(_drop_nn_prefix)
        self.register_load_state_dict_pre_hook(_add_nn_prefix)


def _drop_nn_prefix(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    inner = prefix + "nn."
    for key in [k for k in state_dict if k.startswith(inner)]:  # they come last and stay in order
        state_dict[prefix + key[len(inner):]] = state_dict.pop(key)


def _add_nn_prefix(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    for key in [k for k in state_dict if k.startswith((prefix + "mlp.", prefix + "norm."))]:
        state_dict[prefix + "nn." + key[len(prefix):]] = state_dict.pop(key)


class GCNLayer(nn.Module):
    """One dense GCN layer: ``ReLU(D^-1/2 (Ã + I) D^-1/2 (x W + b))``."""

    def __init__(self, in_dim: int, hidden_dim: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, hidden_dim)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        a = adj + torch.eye(adj.shape[-1], device=adj.device)
        d = a.sum(-1).clamp(min=1).rsqrt()
        a = d.unsqueeze(-1) * a * d.unsqueeze(-2)
        return F.relu(a @ self.linear(x))


class GraphEncoder(nn.Module):
    """Stacked GIN (or GCN) layers and two linear heads: per-node ``(mu, log_sigma)``, each ``(B, N, latent_dim)``.

    Args:
        input_dim: Node-label vocabulary size (one-hot width).
        hidden_dim: Width of every layer.
        latent_dim: Size of the per-node latent vector.
        num_layers: Message-passing layers.
        layer: ``"gin"`` or ``"gcn"``.
    """

    def __init__(self, input_dim: int, hidden_dim: int = 128, latent_dim: int = 16, num_layers: int = 4,
                 layer: str = "gin"):  # fmt: skip
        super().__init__()
        if layer not in ENCODERS:
            raise ValueError(f"layer must be one of {ENCODERS}, got {layer!r}")
        cls = GINLayer if layer == "gin" else GCNLayer
        dims = [input_dim] + [hidden_dim] * num_layers
        self.layers = nn.ModuleList(cls(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_log_sigma = nn.Linear(hidden_dim, latent_dim)
        self.latent_dim = latent_dim

    def forward(self, ops: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_symmetric(ops, symmetrize(adj))

    def forward_symmetric(self, ops: torch.Tensor, sym_adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` on an adjacency already made symmetric by :func:`symmetrize` (precomputed once)."""
        x, a = ops, sym_adj
        for layer in self.layers:
            x = layer(x, a)
        return self.fc_mu(x), self.fc_log_sigma(x)
