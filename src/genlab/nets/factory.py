"""The network between data and vectors for every family: DCGAN-style convolutions for images,
an MLP for vectors, chosen by the data's shape."""

from __future__ import annotations

from typing import Protocol

from torch import nn

from genlab.nets.dcgan import ConvDecoder, ConvEncoder
from genlab.nets.mlp import MLP


class Sizes(Protocol):
    """What the factory reads from a model's config."""

    width: int  # conv width (images)
    hidden: int  # MLP width (vectors)
    depth: int  # MLP hidden layers (vectors)


def data_net(shape: tuple[int, ...], dim: int, sizes: Sizes, *, to_data: bool = False, norm: str = "batch",
             mlp_norm: str = "none", act: str = "relu") -> nn.Module:
    """Data of ``shape`` -> (B, dim) (an encoder, a critic), or with ``to_data`` (B, dim) -> data
    (a decoder, a generator; pre-activation outputs). Images (C, H, W) get the DCGAN conv nets
    with ``norm``; vectors (D,) an MLP with ``mlp_norm`` and activation ``act``."""
    if len(shape) == 3:
        c, h, _ = shape
        if to_data:
            return ConvDecoder(dim, c, h, width=sizes.width, norm=norm)
        return ConvEncoder(c, h, dim, width=sizes.width, norm=norm)
    d_in, d_out = (dim, shape[0]) if to_data else (shape[0], dim)
    return MLP(d_in, d_out, hidden=sizes.hidden, depth=sizes.depth, act=act, norm=mlp_norm)
