"""ResNet image-to-image generator (Johnson et al. 2016), as used by CycleGAN (Zhu et al. 2017).

``c7s1-w, d2w, d4w, R4w × blocks, u2w, uw, c7s1-C``: a 7×7 stem, two stride-2 downsamplings,
residual blocks at 1/4 resolution, two ×2 upsamplings (stride-2 transposed convolutions, as in
the paper, or ``up="upsample"``: nearest-neighbour ×2 then a 3×3 convolution, which cannot leave
the checkerboard pattern of uneven kernel overlap, Odena et al. 2016) and a 7×7 head. Fully
convolutional, so any height and width divisible by 4 works, whatever size it was trained at.
The paper's width is 64 with 6 blocks (128 px) or 9 (256 px); smaller widths keep CPU training
practical.
"""

from __future__ import annotations

from torch import Tensor, nn

from genlab.nets.dcgan import UPSAMPLINGS


# The reference implementation's choices (its --norm): per-image instance norm (the paper's),
# batch norm, or none.
NORMS = ("instance", "batch", "none")
SKIP_INITS = ("zero", "identity")  # how the generator's 1x1 input-to-output path starts


def norm_layer(ch: int, norm: str = "instance") -> nn.Module:
    """Instance norm without affine parameters, as in the reference implementation: per-image
    statistics keep one image's contrast from leaking into another's (Ulyanov et al. 2016). It
    also removes each channel's mean and scale over the image, so a net that must carry an
    absolute level (a flat background's brightness) through it has to recover it from the rest
    of the image; ``batch`` normalises over the batch instead, ``none`` not at all."""
    if norm not in NORMS:
        raise ValueError(f"norm={norm!r} is not allowed; valid: {', '.join(NORMS)}")
    if norm == "instance":
        return nn.InstanceNorm2d(ch)
    return nn.BatchNorm2d(ch) if norm == "batch" else nn.Identity()


def _conv_block(c_in: int, c_out: int, k: int, stride: int, norm: str) -> list[nn.Module]:
    # No conv bias before a norm that removes the mean: it would be cancelled anyway.
    pad = [nn.ReflectionPad2d(k // 2)] if stride == 1 else []
    conv = nn.Conv2d(c_in, c_out, k, stride, padding=0 if stride == 1 else k // 2, bias=norm == "none")
    return [*pad, conv, norm_layer(c_out, norm), nn.ReLU(True)]


class ResidualBlock(nn.Module):
    """``x + (pad, conv3, IN, ReLU, pad, conv3, IN)(x)``: reflection padding avoids border artefacts."""

    def __init__(self, ch: int, norm: str = "instance"):
        super().__init__()
        bias = norm == "none"
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=bias), norm_layer(ch, norm), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=bias), norm_layer(ch, norm),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """(B, C_in, H, W) -> (B, C_out, H, W) pre-activation outputs; H and W divisible by 4.

    The model applies tanh; the network computes no loss.
    """

    down = 2  # stride-2 stages: inputs must be divisible by 2**down

    def __init__(self, c_in: int, c_out: int, *, width: int = 32, blocks: int = 6, up: str = "transposed",
                 norm: str = "instance", skip: bool = False, skip_init: str = "zero"):
        super().__init__()
        if up not in UPSAMPLINGS:
            raise ValueError(f"up={up!r} is not allowed; valid: {', '.join(UPSAMPLINGS)}")
        if skip_init not in SKIP_INITS:
            raise ValueError(f"skip_init={skip_init!r} is not allowed; valid: {', '.join(SKIP_INITS)}")
        bias = norm == "none"
        layers: list[nn.Module] = _conv_block(c_in, width, 7, 1, norm)  # c7s1-w
        ch = width
        for _ in range(self.down):  # d2w, d4w
            layers += _conv_block(ch, ch * 2, 3, 2, norm)
            ch *= 2
        layers += [ResidualBlock(ch, norm) for _ in range(blocks)]
        for _ in range(self.down):  # u2w, uw
            if up == "transposed":
                layers.append(nn.ConvTranspose2d(ch, ch // 2, 3, 2, padding=1, output_padding=1, bias=bias))
            else:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                           nn.Conv2d(ch, ch // 2, 3, bias=bias)]
            layers += [norm_layer(ch // 2, norm), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, c_out, 7)]  # c7s1-C, no norm
        self.net = nn.Sequential(*layers)
        # ``skip``: a 1x1 convolution from the input added to the output, a per-pixel linear path
        # beside the ResNet (global residual learning, Kim et al. 2016) that carries absolute
        # levels past the norms. ``skip_init``: "zero" starts it at zero, so training begins from
        # the plain net; "identity" starts it at the identity (channel i to channel i), so the
        # generator begins as the input plus the ResNet's output: the ResNet learns a residual,
        # as in VDSR's global residual, and every colour starts mapped in increasing order
        self.skip = nn.Conv2d(c_in, c_out, 1) if skip else None
        if self.skip is not None:
            nn.init.zeros_(self.skip.bias)
            if skip_init == "identity":
                nn.init.dirac_(self.skip.weight)
            else:
                nn.init.zeros_(self.skip.weight)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        m = 2**self.down
        if h % m or w % m:
            raise ValueError(f"ResnetGenerator needs height and width divisible by {m}, got {h}x{w}")
        out = self.net(x)
        return out if self.skip is None else out + self.skip(x)
