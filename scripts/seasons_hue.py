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
"""

from __future__ import annotations

import argparse
import json
from unittest import mock


def background_fit(fake, truth, alpha) -> list[float]:
    """[correlation, slope] of the mean background level (pixels with ``alpha`` <= 0.01, the
    channels averaged) of ``fake`` against ``truth``, over the images; both (N, 3, H, W)."""
    import torch

    back = (alpha <= 0.01).to(fake.dtype)

    def level(x):
        return ((x * back).sum((2, 3)) / back.sum((2, 3)).clamp_min(1)).mean(1)

    p, t = level(fake), level(truth)
    corr = torch.corrcoef(torch.stack([p, t]))[0, 1]
    slope = torch.cov(torch.stack([p, t]))[0, 1] / t.var()
    return [round(float(corr), 3), round(float(slope), 3)]


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
            row[d] = {"true": [round(psnr(fake, unit(truth[d])), 2), round(ssim(fake, unit(truth[d])), 3)],
                      "mirror": [round(psnr(fake, unit(mirror[d])), 2), round(ssim(fake, unit(mirror[d])), 3)],
                      "background": background_fit((fake + 1) / 2, truth[d], alpha)}
        print(json.dumps(row))


if __name__ == "__main__":
    main()
