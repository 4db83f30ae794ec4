"""What a multiple of the FD floor means in pixels: real images, slightly damaged, scored like samples.

    python scripts/fd_sensitivity.py --data shapes [--n 1000]

The image studies state FD as a multiple of the real-vs-real floor (``--n`` training images
against the held-out split, on the data's shipped classifier; the definition of
``scripts/tune_images.py``). This scores the same ``--n`` training images after small, known
damage against the same held-out split, so a target such as "FD <= 3x the floor" can be read as
"closer to the data than this much blur or noise": a 3x3 binomial blur, a 16 -> 32 px
down-and-up resize, Gaussian pixel noise of a few standard deviations (in the [-1, 1] range),
a contrast cut (x -> 0.9 x), a saturation cut, a channel rotation (R, G, B -> G, B, R) and a
1-px shift. Prints one JSON object: the floor, then each damage's FD and its multiple of the
floor.
"""

from __future__ import annotations

import argparse
import json


def damages() -> dict:
    """Name -> function of a (N, C, H, W) batch in [-1, 1]; every function is deterministic
    (the noise draws from a fixed generator)."""
    import torch
    import torch.nn.functional as F

    def blur(x):
        k = torch.tensor([1.0, 2.0, 1.0])
        k = (k[:, None] * k[None, :] / 16).expand(x.shape[1], 1, 3, 3)
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=x.shape[1])

    def resize(x):
        h = x.shape[-1]
        small = F.interpolate(x, size=h // 2, mode="bilinear", antialias=True, align_corners=False)
        return F.interpolate(small, size=h, mode="bilinear", align_corners=False)

    def noise(sigma):
        def fn(x):
            g = torch.Generator().manual_seed(0)
            return x + sigma * torch.randn(x.shape, generator=g, dtype=x.dtype)
        return fn

    def saturation(x):
        grey = x.mean(1, keepdim=True)
        return grey + 0.7 * (x - grey)

    return {"blur_3x3": blur, "resize_16_32": resize, "noise_0.01": noise(0.01), "noise_0.03": noise(0.03),
            "noise_0.1": noise(0.1), "contrast_0.9": lambda x: 0.9 * x, "saturation_0.7": saturation,
            "channels_rotated": lambda x: x.roll(1, dims=1), "shift_1px": lambda x: x.roll(1, dims=-1)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="shapes")
    p.add_argument("--n", type=int, default=1000)
    args = p.parse_args(argv)

    import torch

    from genlab.data import load_data
    from genlab.metrics.features import classifier_for, load_classifier
    from genlab.metrics.sets import frechet_distance

    clf = load_classifier(classifier_for(args.data))
    ref = clf.embed(load_data(args.data, split="test").x)
    train_x = load_data(args.data).x
    # the training images tune_images.py scores as the floor
    x = train_x[torch.randperm(len(train_x), generator=torch.Generator().manual_seed(0))[: args.n]]
    floor = float(frechet_distance(clf.embed(x), ref))
    out = {"data": args.data, "n": args.n, "floor": round(floor, 4), "damaged": {}}
    for name, fn in damages().items():
        fd = float(frechet_distance(clf.embed(fn(x).clamp(-1, 1)), ref))
        out["damaged"][name] = {"fd": round(fd, 4), "x_floor": round(fd / floor, 1)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
