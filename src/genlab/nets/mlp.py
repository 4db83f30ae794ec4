"""Multi-layer perceptron for vector data (2-D points, latent codes)."""

from __future__ import annotations

from torch import Tensor, nn


class MLP(nn.Module):
    """``in_dim -> [hidden]*depth -> out_dim`` with a configurable activation and optional norm.

    ``norm="batch"`` is for generators only; critics of WGAN-GP must not use batch statistics
    (the gradient penalty is per-sample), so they take ``norm="none"``.
    """

    def __init__(self, in_dim: int, out_dim: int, *, hidden: int = 256, depth: int = 3,
                 act: str = "relu", norm: str = "none"):
        super().__init__()
        acts = {"relu": nn.ReLU, "lrelu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh}
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(depth):
            layers.append(nn.Linear(d, hidden))
            if norm == "batch":
                layers.append(nn.BatchNorm1d(hidden))
            elif norm == "layer":
                layers.append(nn.LayerNorm(hidden))
            layers.append(acts[act]())
            d = hidden
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))
