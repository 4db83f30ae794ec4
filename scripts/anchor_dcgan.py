"""Anchor for the image study: a public MNIST DCGAN run here on mnist5k, scored as genlab's runs are.

    git clone https://github.com/eriklindernoren/PyTorch-GAN /tmp/PyTorch-GAN
    OMP_NUM_THREADS=1 python scripts/anchor_dcgan.py --script /tmp/PyTorch-GAN/implementations/dcgan/dcgan.py \
        --steps 1460 >> runs/tune/anchor.jsonl

The script is executed as published (its own networks, losses, optimiser and settings: batch 64,
Adam 2e-4, β1 0.5, latent 100, 32×32 images); only its data set is replaced with mnist5k's
training split (no download) and it is stopped after ``--seconds`` of training or ``--steps``
iterations (load-independent: its step time alone on 2 cores times the steps gives the budget). Its generator's
samples are then resized to 28×28 and scored like ``scripts/tune_images.py`` rows: FD on the
shipped classifier's features against the held-out split, the classifier score, confidence and
class shares. Nothing of the public code is copied into this repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


class Stop(Exception):
    pass


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--script", type=Path, required=True, help="the public dcgan.py")
    p.add_argument("--seconds", type=float, default=float("inf"), help="training time before stopping")
    p.add_argument("--steps", type=int, default=0, help="iterations before stopping (0: --seconds decides)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--n", type=int, default=1000)
    args = p.parse_args()

    import numpy as np
    import torch
    import torch.nn.functional as F
    import torchvision
    from PIL import Image

    sys.path.insert(0, str(Path(__file__).parent))
    from tune_images import image_scores

    from genlab.data import load_data
    from genlab.metrics.features import classifier_for, load_classifier
    from genlab.metrics.sets import frechet_distance

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    train = load_data("mnist5k").x  # (N, 1, 28, 28) in [-1, 1]
    pixels = ((train[:, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()

    class Digits(torch.utils.data.Dataset):  # stands in for torchvision.datasets.MNIST
        def __init__(self, root, train=True, download=False, transform=None):
            self.transform = transform

        def __len__(self):
            return len(pixels)

        def __getitem__(self, i):
            return self.transform(Image.fromarray(pixels[i], mode="L")), 0

    torchvision.datasets.MNIST = Digits
    start, steps = [None], [0]

    def on_batch(*a, **k):  # the script prints one line per batch: the clock is read there
        if not (a and isinstance(a[0], str) and a[0].startswith("[Epoch")):
            return  # its settings, printed once before training
        steps[0] += 1
        if start[0] is None:
            start[0] = time.perf_counter()
        if time.perf_counter() - start[0] >= args.seconds or steps[0] == args.steps:
            raise Stop

    work = Path("/tmp/anchor_dcgan_work")
    work.mkdir(exist_ok=True)
    cwd = Path.cwd()
    code = compile(args.script.read_text(), str(args.script), "exec")
    g = {"__name__": "__main__", "print": on_batch}
    sys.argv = [str(args.script), "--n_cpu", "0", "--sample_interval", "1000000000"]
    import os

    os.chdir(work)
    try:
        exec(code, g)
    except Stop:
        pass
    finally:
        train_s = time.perf_counter() - (start[0] or time.perf_counter())
        os.chdir(cwd)
    gen = g["generator"].eval()
    with torch.no_grad():
        z = torch.randn(args.n, g["opt"].latent_dim, generator=torch.Generator().manual_seed(0))
        x = gen(z).clamp(-1, 1)
        x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    clf = load_classifier(classifier_for("mnist5k"))
    ref = load_data("mnist5k", split="test").x
    n_ref = min(args.n, len(ref))
    half = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[: 2 * n_ref]
    floor = float(frechet_distance(clf.embed(train[half[:n_ref]]), clf.embed(train[half[n_ref:]])))
    s = image_scores(clf, x, ref, num_classes=10)
    row = {"model": "PyTorch-GAN dcgan.py", "data": "mnist5k", "settings": {"seconds": args.seconds if args.seconds < float("inf") else None, "steps": args.steps},
           "train_s": round(train_s, 1),
           "seed": args.seed, "steps": steps[0], "threads": torch.get_num_threads(), "fd_floor": round(floor, 3),
           "final": {k: round(v, 4) for k, v in s.items()}}
    print(json.dumps(row), file=sys.__stdout__, flush=True)


if __name__ == "__main__":
    main()
