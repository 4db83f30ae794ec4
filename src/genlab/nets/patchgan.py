"""PatchGAN discriminator (Isola et al. 2017; CycleGAN's 70×70 critic, Zhu et al. 2017).

A fully convolutional critic that scores overlapping patches instead of the whole image:
``layers`` stride-2 4×4 convolutions (width doubling, capped at 8×), one stride-1 4×4
convolution and a stride-1 4×4 convolution to one channel. Each output value sees a
``receptive_field(layers)`` square of the input: 16, 34, 70 px for 1, 2, 3 layers. Three layers
is the paper's 70×70 critic for 256 px images; small images take fewer (see ``auto_layers``).
"""

from __future__ import annotations

from torch import Tensor, nn

from genlab.nets.resnet import norm_layer


def receptive_field(layers: int) -> int:
    """Input pixels seen by one output value: 4×4 kernels, ``layers`` of stride 2, then two of stride 1."""
    r = 1
    for stride in reversed([2] * layers + [1, 1]):  # walk back from the output: r -> (r - 1) * s + k
        r = (r - 1) * stride + 4
    return r


def auto_layers(size: int) -> int:
    """The paper's 3 stride-2 layers where the image allows, fewer where that would leave fewer
    than 3x3 patch scores: 1 layer below 20 px, 2 below 40 px, else 3.

    Small images thus get patches about as large as the image: on 28 px digits, 34 px patches
    gave 20 dB PSNR on mnist-style after 600 steps where 16 px patches gave 6 dB (a critic that
    sees only part of a digit passes blotches that look like thick strokes locally).
    """
    out = 1
    for n in (2, 3):
        if size // 2**n - 2 >= 3:
            out = n
    return out


class PatchDiscriminator(nn.Module):
    """(B, C, H, W) -> (B, 1, H', W') raw patch scores (no sigmoid; the loss decides)."""

    def __init__(self, channels: int, *, width: int = 64, layers: int = 3, norm: str = "instance"):
        super().__init__()
        if layers < 1:
            raise ValueError(f"PatchDiscriminator needs layers >= 1, got {layers}")
        # No norm on the first layer (DCGAN, pix2pix); instance norm (or ``norm``) elsewhere, no
        # bias before it.
        seq: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = width
        for i in range(1, layers + 1):
            out = width * min(2**i, 8)
            stride = 2 if i < layers else 1  # the last widening layer keeps the resolution
            seq += [nn.Conv2d(ch, out, 4, stride, 1, bias=norm == "none"), norm_layer(out, norm),
                    nn.LeakyReLU(0.2, True)]
            ch = out
        seq.append(nn.Conv2d(ch, 1, 4, 1, 1))
        self.net = nn.Sequential(*seq)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class PixelDiscriminator(nn.Module):
    """(B, C, H, W) -> (B, 1, H, W) raw scores of each pixel's colour alone: pix2pix's 1×1
    "PixelGAN" critic (Isola et al. 2017, §4.4: it "has no effect on spatial statistics" but
    pushes the colour distribution towards the real one). No norm layer: a per-image norm would
    take away the absolute colours it judges."""

    def __init__(self, channels: int, *, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, width, 1), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(width, 2 * width, 1), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(2 * width, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
