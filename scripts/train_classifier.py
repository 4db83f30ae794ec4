"""Train the small classifiers whose features and predictions the image metrics use, and ship them.

    OMP_NUM_THREADS=1 python scripts/train_classifier.py                 # digits, mnist5k, shapes
    OMP_NUM_THREADS=1 python scripts/train_classifier.py --data mnist5k  # one of them
    OMP_NUM_THREADS=1 python scripts/train_classifier.py --probe         # score the shipped ones only

Each is trained on the train split of an embedded dataset and scored on its held-out split;
weights go to ``src/genlab/weights/<data>_cls.safetensors`` and a JSON card beside them
records the architecture, the held-out accuracy, the confidences of the probes below and the
file's SHA-256, which every load checks. Training is seeded, so the same torch build gives the
same file.

A classifier that judges generated samples must not call noise a confident digit. Trained on
real images alone, a softmax classifier is confident almost everywhere off the data (uniform
noise scored max-softmax 1.0 on the first ``mnist5k_cls``). So every batch also carries as many
junk images (noise of several kinds, constants, smooth blobs, sparse dots, real images cut into
shuffled patches) whose target is the uniform distribution over the classes: outlier exposure
(Hendrycks et al. 2019, "Deep anomaly detection with outlier exposure"). The probes that the
card reports (uniform and Gaussian noise, blank images) are drawn with their own seed, apart
from the training junk.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from genlab import __version__
from genlab.data import load_data
from genlab.metrics.features import WEIGHTS_DIR, SmallClassifier, load_classifier, sha256_file
from genlab.metrics.images import classifier_score
from genlab.training.checkpoint import atomic_write, atomic_write_text

# (epochs, max shift in pixels, side of a shuffled patch): digits are tiny, so more passes;
# shapes are already placed at random positions and need no shifting, and they are small, so
# only fine patches break them apart.
PLAN = {"digits": (40, 1, 2), "mnist5k": (24, 2, 7), "shapes": (12, 0, 4)}
WIDTH, BATCH, LR, SEED = 32, 64, 3e-3, 0
OUTLIER_WEIGHT = 0.5  # Hendrycks et al.'s lambda for the cross-entropy to the uniform distribution
PROBE_SEED, PROBE_N = 12345, 500


def shift(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """Random translations by up to ``max_shift`` pixels (edge-padded), one per image."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, [max_shift] * 4, mode="replicate")
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=g)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=g)
    rows = (dy[:, None] + torch.arange(h)[None])[:, None, :, None].expand(n, x.shape[1], h, w + 2 * max_shift)
    out = padded.gather(2, rows)  # (N, C, H, W + 2s)
    cols = (dx[:, None] + torch.arange(w)[None])[:, None, None, :].expand(n, x.shape[1], h, w)
    return out.gather(3, cols)


def shuffle_patches(x: torch.Tensor, patch: int, g: torch.Generator) -> torch.Tensor:
    """Each image cut into ``patch``-pixel squares put back in a random order: strokes without a shape."""
    n, c, h, w = x.shape
    gh, gw = h // patch, w // patch
    tiles = x[:, :, :gh * patch, :gw * patch].reshape(n, c, gh, patch, gw, patch).permute(0, 2, 4, 1, 3, 5)
    tiles = tiles.reshape(n, gh * gw, c, patch, patch)  # (N, tiles, C, p, p)
    order = torch.rand(n, gh * gw, generator=g).argsort(1)
    tiles = tiles[torch.arange(n)[:, None], order]
    out = tiles.reshape(n, gh, gw, c, patch, patch).permute(0, 3, 1, 4, 2, 5).reshape(n, c, gh * patch, gw * patch)
    return F.pad(out, [0, w - gw * patch, 0, h - gh * patch], value=-1.0)


def junk(real: torch.Tensor, patch: int, g: torch.Generator) -> torch.Tensor:
    """As many images as ``real`` that are no class at all, six kinds in equal shares, in [-1, 1]."""
    n, c, h, w = real.shape
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731 - local shorthand
    k = torch.arange(n) % 6
    out = torch.empty_like(real)
    # 0: uniform noise with a random range inside [-1, 1]
    a, b = u(n, 1, 1, 1) * 2 - 1, u(n, 1, 1, 1) * 2 - 1
    lo, hi = torch.minimum(a, b), torch.maximum(a, b)
    kind = lo + (hi - lo) * u(n, c, h, w)
    out = torch.where((k == 0).view(-1, 1, 1, 1), kind, out)
    # 1: Gaussian noise of a random mean and spread, clipped
    kind = (u(n, 1, 1, 1) * 2 - 1 + u(n, 1, 1, 1) * torch.randn(n, c, h, w, generator=g)).clamp(-1, 1)
    out = torch.where((k == 1).view(-1, 1, 1, 1), kind, out)
    # 2: constant images (one value per channel; the same value in every channel half the time)
    value = u(n, c, 1, 1) * 2 - 1
    value = torch.where(u(n, 1, 1, 1) < 0.5, value[:, :1].expand(-1, c, -1, -1), value)
    out = torch.where((k == 2).view(-1, 1, 1, 1), value.expand(-1, -1, h, w), out)
    # 3: smooth random fields, half of them thresholded into blobs (bilinear upsampling of 3..7 px noise)
    cells = int(torch.randint(3, 8, (1,), generator=g))
    field = F.interpolate(torch.randn(n, c, cells, cells, generator=g), size=(h, w), mode="bilinear",
                          align_corners=False)
    field = torch.where(u(n, 1, 1, 1) < 0.5, (field > 0.5).float() * 2 - 1, field.clamp(-1, 1))
    out = torch.where((k == 3).view(-1, 1, 1, 1), field, out)
    # 4: sparse dots on the darkest background
    dots = torch.where(u(n, 1, h, w) < u(n, 1, 1, 1) * 0.3, u(n, c, h, w) * 2 - 1, torch.full((n, c, h, w), -1.0))
    out = torch.where((k == 4).view(-1, 1, 1, 1), dots, out)
    # 5: real images cut into shuffled patches
    out = torch.where((k == 5).view(-1, 1, 1, 1), shuffle_patches(real, patch, g), out)
    return out


def probes(c: int, s: int) -> dict[str, torch.Tensor]:
    """The images the card reports confidences on; a fixed seed of their own."""
    g = torch.Generator().manual_seed(PROBE_SEED)
    return {
        "uniform_noise": torch.rand(PROBE_N, c, s, s, generator=g) * 2 - 1,
        "gaussian_noise": (0.5 * torch.randn(PROBE_N, c, s, s, generator=g)).clamp(-1, 1),
        "blank_-1": torch.full((1, c, s, s), -1.0),
        "blank_0": torch.zeros(1, c, s, s),
        "blank_+1": torch.full((1, c, s, s), 1.0),
    }


@torch.no_grad()
def report(probs_of, test) -> dict:
    """Held-out accuracy, mean max-softmax on held-out and probe images, and the classifier score
    of the held-out images; ``probs_of`` maps images to (N, K) probabilities."""
    p = probs_of(test.x)
    out = {"test_accuracy": round(float((p.argmax(1) == test.y).double().mean()), 4),
           "confidence": {"held_out": round(float(p.max(1).values.mean()), 4)},
           "held_out_cls_score": round(classifier_score(p), 3)}
    for name, x in probes(test.x.shape[1], test.x.shape[2]).items():
        out["confidence"][name] = round(float(probs_of(x).max(1).values.mean()), 4)
    return out


def net_probs(net: SmallClassifier):
    def fn(x: torch.Tensor) -> torch.Tensor:
        net.eval()
        with torch.no_grad():
            return torch.cat([net(x[i:i + 500]).softmax(1).double() for i in range(0, len(x), 500)])
    return fn


def train_one(data: str, out_dir: Path) -> dict:
    epochs, max_shift, patch = PLAN[data]
    train, test = load_data(data, split="train"), load_data(data, split="test")
    c, s, k = train.x.shape[1], train.x.shape[2], train.num_classes
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    net = SmallClassifier(c, s, k, width=WIDTH)
    opt = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=1e-4)
    steps = epochs * math.ceil(len(train.x) / BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(train.x), generator=g)
        for i in range(0, len(perm), BATCH):
            idx = perm[i:i + BATCH]
            real = shift(train.x[idx], max_shift, g)
            logits = net(torch.cat([real, junk(real, patch, g)]))  # one batch: BatchNorm sees both
            fit = F.cross_entropy(logits[:len(idx)], train.y[idx])
            # cross-entropy to the uniform distribution: mean over classes of -log softmax
            reject = -logits[len(idx):].log_softmax(1).mean(1).mean()
            loss = fit + OUTLIER_WEIGHT * (reject - math.log(k))  # the constant makes a perfect rejection read 0
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        r = report(net_probs(net), test)
        print(f"{data}: epoch {epoch + 1}/{epochs} fit {fit.item():.3f} reject {reject.item() - math.log(k):.3f} "
              f"{json.dumps(r)} ({time.perf_counter() - t0:.0f}s)", flush=True)
    seconds = time.perf_counter() - t0

    from safetensors.torch import save_file

    name = f"{data}_cls"
    path = out_dir / f"{name}.safetensors"
    tensors = {key: v.detach().contiguous() for key, v in net.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"name": name}))
    card = {
        "name": name, "file": path.name, "sha256": sha256_file(path), "dataset": data,
        "architecture": "SmallClassifier", "input_shape": [c, s, s], "width": WIDTH, "num_features": net.num_features,
        "class_names": list(train.class_names), **report(net_probs(net), test),
        "probes": {"n": PROBE_N, "seed": PROBE_SEED, "uniform_noise": "U[-1, 1]",
                   "gaussian_noise": "N(0, 0.5^2) clipped to [-1, 1]", "blank": "one image of a constant"},
        "n_train": len(train.x), "n_test": len(test.x), "epochs": epochs, "max_shift": max_shift,
        "outlier_exposure": {"weight": OUTLIER_WEIGHT, "patch": patch,
                             "kinds": ["uniform noise", "Gaussian noise", "constant", "smooth field / blobs",
                                       "sparse dots", "shuffled patches of real images"]},
        "seed": SEED, "train_seconds": round(seconds, 1), "torch_version": torch.__version__,
        "genlab_version": __version__, "script": "scripts/train_classifier.py",
    }
    atomic_write_text(out_dir / f"{name}.json", json.dumps(card, indent=2) + "\n")
    return card


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=sorted(PLAN), action="append", help="dataset (repeatable; default: all)")
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="folder for the weights and cards")
    p.add_argument("--probe", action="store_true", help="only score the shipped classifiers (no training)")
    args = p.parse_args()
    torch.set_num_threads(1)
    for data in args.data or list(PLAN):
        if args.probe:
            ex = load_classifier(f"{data}_cls")
            print(json.dumps({"name": ex.name, "sha256": ex.sha256, **report(ex.probs, load_data(data, split="test"))}),
                  flush=True)
            continue
        card = train_one(data, args.out)
        print(json.dumps({key: card[key] for key in ("name", "test_accuracy", "confidence", "held_out_cls_score",
                                                     "sha256", "train_seconds")}), flush=True)


if __name__ == "__main__":
    main()
