"""Which hue map did a seasons CycleGAN learn: the benchmark's, or its mirror image?

    python scripts/seasons_hue.py RUN [RUN ...]

seasons recolours each shape by one hue coordinate g in [0, 1] (red -> yellow in summer, dark
blue -> pale cyan in winter). Unpaired data cannot tell g -> g from g -> 1 - g: both maps carry
one domain's distribution onto the other's, and both cycle back exactly. For each run this scores
the 500 held-out translations (PSNR dB, SSIM) against the true targets and against targets drawn
with the hue mirrored; a run whose translations are closer to the mirror learned the mirror.

The background level has the same freedom: snow is 0.80 + 0.2·bg and grass 0.15 + 0.8·bg of one
level bg per image, and a decreasing map of bg matches the other domain as well as the true one.
``background`` gives, per direction, the correlation and the least-squares slope of the
translations' mean background level against the true one over the 500 images: near 1 the true
map, near -1 the mirrored one, near 0 a level drawn without reading the input's.

``shape`` does the same for the two numbers each shape's colour carries, read back from the mean
colour of its interior by inverting the target palette: its hue g (summer G/R = 0.35 + 0.55·g,
winter R/B = 0.25 + 0.35·g) and its brightness m (summer R, winter B, both m times a constant).
Against the true g and m it gives ``hue`` and ``brightness`` as [correlation, slope]; ``swapped``
is [correlation of the read hue with the true brightness, of the read brightness with the true
hue]: a translator that carried each shape's brightness into the other domain's hue and its hue
into brightness scores near 0 on the first two and far from 0 on this one. A mirrored hue map
gives ``hue`` near -1; the PSNR against mirrored targets alone cannot tell the two apart.
"""

from __future__ import annotations

import argparse
import json
from unittest import mock


def background_fit(fake, truth, alpha) -> list[float]:
    """[correlation, slope] of the mean background level (pixels with ``alpha`` <= 0.01, the
    channels averaged) of ``fake`` against ``truth``, over the images; both (N, 3, H, W)."""
    back = (alpha <= 0.01).to(fake.dtype)

    def level(x):
        return ((x * back).sum((2, 3)) / back.sum((2, 3)).clamp_min(1)).mean(1)

    return _corr_slope(level(fake), level(truth))


def _corr_slope(p, t) -> list[float]:
    import torch

    corr = torch.corrcoef(torch.stack([p, t]))[0, 1]
    slope = torch.cov(torch.stack([p, t]))[0, 1] / t.var()
    return [round(float(corr), 3), round(float(slope), 3)]


def shape_colour(x, alpha, domain: str):
    """(hue g, brightness m) of each image's shape, (N,) each, read from the mean colour of the
    shape's interior (``alpha`` > 0.99) of ``x`` (N, 3, H, W) in [0, 1] drawn in ``domain``'s
    palette (``"summer"`` or ``"winter"``); the brightness up to a constant factor."""
    inside = (alpha > 0.99).to(x.dtype)
    r, g, b = ((x * inside).sum((2, 3)) / inside.sum((2, 3)).clamp_min(1)).unbind(1)
    if domain == "summer":
        return (g / r.clamp_min(1e-3) - 0.35) / 0.55, r
    return (r / b.clamp_min(1e-3) - 0.25) / 0.35, b


def shape_fit(fake, truth, alpha, domain: str) -> dict[str, list[float]]:
    """``hue``, ``brightness`` and ``swapped`` (see the module's text) of ``fake`` against
    ``truth``, both (N, 3, H, W) in [0, 1] in ``domain``'s palette."""
    (hue, bright), (true_hue, true_bright) = shape_colour(fake, alpha, domain), shape_colour(truth, alpha, domain)
    return {"hue": _corr_slope(hue, true_hue), "brightness": _corr_slope(bright, true_bright),
            "swapped": [_corr_slope(hue, true_bright)[0], _corr_slope(bright, true_hue)[0]]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    args = p.parse_args(argv)

    import torch

    import genlab
    from genlab.data import translation as T
    from genlab.metrics.images import psnr, ssim

    parts = T._parts

    def mirrored(s):
        alpha, m, g, bg = parts(s)
        return alpha, m, 1 - g, bg

    test = torch.from_numpy(T.draw_shapes(T.SEASONS_N["test"], T.SHAPES_NATIVE_SIZE, T.SEASONS_SEED["test"])[0])
    truth = {"a2b": T.winter(test), "b2a": T.summer(test)}
    with mock.patch.object(T, "_parts", mirrored):
        mirror = {"a2b": T.winter(test), "b2a": T.summer(test)}
    inputs = {"a2b": T.summer(test), "b2a": T.winter(test)}
    alpha = parts(test)[0]
    unit = lambda x: (x * 2 - 1).clamp(-1, 1)  # noqa: E731  [0, 1] -> the nets' [-1, 1]
    for run in args.runs:
        model = genlab.load(run).model.eval()
        row = {"run": run}
        for d in ("a2b", "b2a"):
            with torch.no_grad():
                fake = model.translate(unit(inputs[d]), d)
            seen = (fake + 1) / 2  # the nets' [-1, 1] -> [0, 1], as the targets are drawn
            row[d] = {"true": [round(psnr(fake, unit(truth[d])), 2), round(ssim(fake, unit(truth[d])), 3)],
                      "mirror": [round(psnr(fake, unit(mirror[d])), 2), round(ssim(fake, unit(mirror[d])), 3)],
                      "background": background_fit(seen, truth[d], alpha),
                      "shape": shape_fit(seen, truth[d], alpha, "winter" if d == "a2b" else "summer")}
        print(json.dumps(row))


if __name__ == "__main__":
    main()
