"""DCGAN-style convolutional encoder/critic and decoder/generator (Radford et al. 2016).

Both scale with the image size: the spatial size is halved by stride-2 4×4 convolutions until
it is small (≤ 7) or odd, so 8, 28, 32, 64 and 128 px all work, as do 1 or 3 channels. Channel
width doubles at every halving, capped at ``8 * width``.
"""

from __future__ import annotations

from torch import Tensor, nn

from genlab.errors import BadInputError

# how a generator doubles its resolution: stride-2 transposed convolutions, or nearest-neighbour
# upsampling then a 3x3 convolution (no checkerboard, Odena et al. 2016)
UPSAMPLINGS = ("transposed", "upsample")


def down_plan(size: int) -> tuple[int, int]:
    """How many stride-2 halvings take ``size`` to a small base: 64 -> (4, 4), 28 -> (2, 7), 8 -> (1, 4)."""
    n, s = 0, size
    while s % 2 == 0 and s > 7:
        s //= 2
        n += 1
    if n == 0:  # a user's --image-size: odd, or below 8
        near = "8" if size < 8 else f"{size - 1} or {size + 1}"
        raise BadInputError(f"image size {size} does not fit the convolutional networks, which need an even "
                            f"size of 8 or more (8, 10, ..., 28, 32, 64); use --image-size {near}")
    return n, s


def _norm(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "instance":  # per-sample statistics: safe with a gradient penalty
        return nn.InstanceNorm2d(ch, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, ch)
    return nn.Identity()


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_dim). The DCGAN discriminator trunk; also the VAE encoder.

    No norm on the first layer (DCGAN); ``norm="none"`` or ``"layer"`` for a WGAN-GP critic.
    """

    def __init__(self, channels: int, size: int, out_dim: int, *, width: int = 64, norm: str = "batch",
                 extra: int = 0):
        super().__init__()
        n, base = down_plan(size)
        layers: list[nn.Module] = []
        c_in, c = channels, width
        for i in range(n):
            layers += [nn.Conv2d(c_in, c, 4, 2, 1, bias=(i == 0 or norm == "none")),
                       _norm("none" if i == 0 else norm, c), nn.LeakyReLU(0.2)]
            for _ in range(extra):  # deeper at the same scale: 3x3 convolutions that keep the size
                layers += [nn.Conv2d(c, c, 3, 1, 1, bias=norm == "none"), _norm(norm, c), nn.LeakyReLU(0.2)]
            c_in, c = c, min(c * 2, 8 * width)
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * base * base, out_dim)  # (B, c*base*base) -> (B, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x).flatten(1))


class ConvDecoder(nn.Module):
    """(B, in_dim) -> (B, C, H, W) pre-activation outputs (the model applies tanh or a likelihood).

    The DCGAN generator: project to (c, base, base), then stride-2 transposed convolutions, or with
    ``up="upsample"`` nearest-neighbour doubling and a 3×3 convolution (no checkerboard pattern).
    ``extra`` 3×3 size-keeping convolutions follow the projection and every inner doubling.
    ``out_depth`` > 0 gives the output resolution its own stage: the last doubling goes to half the
    channels of the scale below (normed, ReLU), ``out_depth - 1`` size-keeping 3×3 convolutions
    follow, and a 3×3 convolution maps to the data's channels; 0 = the last doubling outputs them
    directly (DCGAN).
    """

    def __init__(self, in_dim: int, channels: int, size: int, *, width: int = 64, norm: str = "batch",
                 up: str = "transposed", extra: int = 0, out_depth: int = 0):
        super().__init__()
        n, base = down_plan(size)
        chans = [min(width * 2**i, 8 * width) for i in range(n)][::-1]  # e.g. [256, 128, 64]
        self.base, self.c0 = base, chans[0]
        self.project = nn.Sequential(nn.Linear(in_dim, chans[0] * base * base),
                                     nn.Unflatten(1, (chans[0], base, base)),
                                     _norm(norm, chans[0]), nn.ReLU())
        if up not in UPSAMPLINGS:
            raise BadInputError(f"g_up={up!r} is not allowed; valid: {', '.join(UPSAMPLINGS)}")

        def double(c_in: int, c_out: int, bias: bool) -> list[nn.Module]:
            if up == "transposed":
                return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias)]
            return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias)]

        def same(c: int) -> list[nn.Module]:
            return [nn.Conv2d(c, c, 3, 1, 1, bias=norm == "none"), _norm(norm, c), nn.ReLU()]

        layers: list[nn.Module] = [m for _ in range(extra) for m in same(chans[0])]
        for i in range(n - 1):
            layers += [*double(chans[i], chans[i + 1], norm == "none"), _norm(norm, chans[i + 1]), nn.ReLU()]
            layers += [m for _ in range(extra) for m in same(chans[i + 1])]
        if out_depth:
            top = max(chans[-1] // 2, 1)
            layers += [*double(chans[-1], top, norm == "none"), _norm(norm, top), nn.ReLU()]
            layers += [m for _ in range(out_depth - 1) for m in same(top)]
            layers.append(nn.Conv2d(top, channels, 3, 1, 1))
        else:
            layers += double(chans[-1], channels, True)
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.project(z))
