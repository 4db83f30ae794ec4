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
             mlp_norm: str = "none", act: str = "relu", up: str = "transposed", extra: int = 0,
             out_depth: int = 0) -> nn.Module:
    """Data of ``shape`` -> (B, dim) (an encoder, a critic), or with ``to_data`` (B, dim) -> data
    (a decoder, a generator; pre-activation outputs, doubling the size by ``up``). Images
    (C, H, W) get the DCGAN conv nets with ``norm``; vectors (D,) an MLP with ``mlp_norm`` and
    activation ``act``. ``norm="spectral"`` (a critic) divides every weight of either by its
    largest singular value (Miyato et al. 2018), with no other norm. ``extra``: size-keeping 3x3
    convolutions at every scale of the conv nets (deeper, not wider); ``out_depth``: a conv
    decoder's own stage at the output resolution (see ``ConvDecoder``)."""
    if norm == "spectral":
        return spectral(data_net(shape, dim, sizes, to_data=to_data, norm="none", act=act, up=up, extra=extra,
                                 out_depth=out_depth))
    if len(shape) == 3:
        c, h, _ = shape
        if to_data:
            return ConvDecoder(dim, c, h, width=sizes.width, norm=norm, up=up, extra=extra, out_depth=out_depth)
        return ConvEncoder(c, h, dim, width=sizes.width, norm=norm, extra=extra)
    d_in, d_out = (dim, shape[0]) if to_data else (shape[0], dim)
    return MLP(d_in, d_out, hidden=sizes.hidden, depth=sizes.depth, act=act, norm=mlp_norm)


def spectral(net: nn.Module) -> nn.Module:
    """Spectral normalisation on every convolution and linear layer of ``net`` (one power
    iteration per training forward, torch's parametrization), in place; returns ``net``."""
    from torch.nn.utils.parametrizations import spectral_norm

    for module in list(net.modules()):
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            spectral_norm(module)
    return net
