"""Train the small classifiers whose features the image metrics use, and ship their weights.

    OMP_NUM_THREADS=1 python scripts/train_classifier.py                 # digits, mnist5k, shapes
    OMP_NUM_THREADS=1 python scripts/train_classifier.py --data mnist5k  # one of them

Each is trained on the train split of an embedded dataset and scored on its held-out split;
weights go to ``src/genlab/weights/<data>_cls.safetensors`` and a JSON card beside them
records the architecture, the held-out accuracy and the file's SHA-256, which every load
checks. Training is seeded, so the same torch build gives the same file.
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
from genlab.metrics.features import WEIGHTS_DIR, SmallClassifier, sha256_file
from genlab.training.checkpoint import atomic_write, atomic_write_text

# (epochs, max shift in pixels): digits are tiny, so more passes; shapes are already placed at
# random positions and need no shifting.
PLAN = {"digits": (40, 1), "mnist5k": (12, 2), "shapes": (4, 0)}
WIDTH, BATCH, LR, SEED = 32, 64, 3e-3, 0


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


@torch.no_grad()
def accuracy(net: SmallClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    pred = torch.cat([net(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])
    return float((pred == y).float().mean())


def train_one(data: str, out_dir: Path) -> dict:
    epochs, max_shift = PLAN[data]
    train, test = load_data(data, split="train"), load_data(data, split="test")
    c, s = train.x.shape[1], train.x.shape[2]
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    net = SmallClassifier(c, s, train.num_classes, width=WIDTH)
    opt = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=1e-4)
    steps = epochs * math.ceil(len(train.x) / BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=steps)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(train.x), generator=g)
        for i in range(0, len(perm), BATCH):
            idx = perm[i:i + BATCH]
            loss = F.cross_entropy(net(shift(train.x[idx], max_shift, g)), train.y[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        print(f"{data}: epoch {epoch + 1}/{epochs} loss {loss.item():.3f} "
              f"held-out acc {accuracy(net, test.x, test.y):.4f} ({time.perf_counter() - t0:.0f}s)", flush=True)

    from safetensors.torch import save_file

    name = f"{data}_cls"
    path = out_dir / f"{name}.safetensors"
    tensors = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"name": name}))
    card = {
        "name": name, "file": path.name, "sha256": sha256_file(path), "dataset": data,
        "input_shape": [c, s, s], "width": WIDTH, "num_features": net.num_features,
        "class_names": list(train.class_names), "test_accuracy": round(accuracy(net, test.x, test.y), 4),
        "n_train": len(train.x), "n_test": len(test.x), "epochs": epochs, "max_shift": max_shift, "seed": SEED,
        "train_seconds": round(time.perf_counter() - t0, 1), "torch_version": torch.__version__,
        "genlab_version": __version__, "script": "scripts/train_classifier.py",
    }
    atomic_write_text(out_dir / f"{name}.json", json.dumps(card, indent=2) + "\n")
    return card


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=sorted(PLAN), action="append", help="dataset (repeatable; default: all)")
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="folder for the weights and cards")
    args = p.parse_args()
    for data in args.data or list(PLAN):
        card = train_one(data, args.out)
        print(json.dumps({k: card[k] for k in ("name", "test_accuracy", "sha256", "train_seconds")}), flush=True)


if __name__ == "__main__":
    main()
