"""Writing samples of a trained run to .png / .npy / .csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genlab.errors import BadInputError
from genlab.refine import Refinement, as_refinement
from genlab.io import atomic_write
from genlab.rng import seeded


def check_label(model, label: int | None) -> None:
    if label is not None:
        if not model.conditional:
            raise BadInputError("--class is only for conditional models (cgan, cvae)")
        k = model.info.num_classes
        if not 0 <= label < k:
            raise BadInputError(f"--class must be in 0..{k - 1}, got {label}")


def draw(model, n: int, *, seed: int = 0, label: int | None = None, batch: int = 1000,
         refine: Refinement | None = None) -> torch.Tensor:
    """``n`` samples in data space, reproducible from ``seed``, drawn in batches; refined with
    the model's critic when ``refine`` is given (see :func:`draw_refined`)."""
    if refine is not None:
        return draw_refined(model, n, seed=seed, label=label, batch=batch, refine=refine)[0]
    y = None
    check_label(model, label)
    chunks = []
    with seeded(seed, model.device):
        for i in range(0, n, batch):
            m = min(batch, n - i)
            if label is not None:
                y = torch.full((m,), label, dtype=torch.long, device=model.device)
            elif model.conditional:  # every class in turn, in contiguous blocks across the chunks
                y = torch.arange(i, i + m, device=model.device) * model.info.num_classes // n
            chunks.append(model.sample(m, y=y).detach().cpu())
    return torch.cat(chunks)


PAIR_SEED = 7919  # offset of the seed that draws DOT's K_eff pairs


def critic_models() -> list[str]:
    from genlab.models import MODELS

    return [name for name, cls in MODELS.items() if cls.critic is not None]


def check_critic(model, refine: Refinement | None, *, name: str | None = None) -> None:
    """Refinement needs the model's critic; say which models have one (``name``: the model's
    registry name, as the user knows it)."""
    if refine is not None and model.critic is None:
        name = name or type(model).__name__
        raise BadInputError(f"--refine {refine.method} moves samples drawn from noise with the critic that judged "
                            f"them, which {name} does not have; it applies to {', '.join(critic_models())}")


def draw_refined(model, n: int, *, seed: int = 0, label: int | None = None, batch: int = 1000,
                 refine: Refinement | str) -> tuple[torch.Tensor, dict | None]:
    """``n`` samples refined by the model's critic, and the refinement's record for provenance
    (its settings, plus K_eff and the mean displacement for DOT, the acceptance rate for DRS).

    DOT moves exactly the samples :func:`draw` gives for the same seed (then estimates K_eff on
    fresh pairs); DRS draws fresh proposals until ``n`` are accepted, per class for conditional
    models. A packed critic (PacGAN) refines whole packs, so ``n`` is rounded up to whole packs
    before the cut.
    """
    refine = as_refinement(refine)
    if refine is None:
        return draw(model, n, seed=seed, label=label, batch=batch), None
    check_critic(model, refine)
    check_label(model, label)
    m = model.critic_pack
    total = -(-n // m) * m  # whole packs
    k = model.info.num_classes
    if label is not None:
        ys = torch.full((total,), label, dtype=torch.long)
    elif model.conditional:  # the class-major blocks of draw()
        ys = torch.arange(total) * k // total
    else:
        ys = None
    was = model.training
    model.eval()
    try:
        if refine.method == "dot":
            x, stats = _dot(model, total, ys, seed=seed, label=label, batch=batch, refine=refine)
        else:
            with seeded(seed, model.device):
                x, stats = _drs(model, total, ys, seed=seed, batch=batch, refine=refine)
    finally:
        model.train(was)
    return x[:n], {**refine.to_dict(), **stats}


def _on(model, y):
    return None if y is None else y.to(model.device)


def dot_space(model, refine: Refinement) -> str:
    """Where DOT moves points: ``refine.space``, with "auto" = latent for images (when the model
    draws from given noise) and data otherwise."""
    has_latent = getattr(model, "generate_from", None) is not None
    if refine.space == "latent" and not has_latent:
        raise BadInputError(f"--refine dot in latent space needs a generator fed noise; {type(model).__name__} "
                            "has none (valid here: data)")
    if refine.space == "auto":
        return "latent" if model.info.is_image and has_latent else "data"
    return refine.space


def _dot(model, total: int, ys, *, seed: int, label, batch: int, refine: Refinement) -> tuple[torch.Tensor, dict]:
    """DOT from the samples :func:`draw` gives for the same seed, moved in data space, or in
    latent space (Tanaka 2019's DOT for images): there the generator's noise z moves to a local
    minimum of ‖z − z_y‖ − D(G(z)) / K, starting from the noise draw() feeds G (the same chunks,
    the same generator calls), with K_eff the largest secant slope of D∘G and ``lr`` in noise
    units. K_eff comes from fresh pairs, seeded apart from the samples so that it does not depend
    on n; a conditional critic is one function per class, so both members of a pair share a label."""
    from genlab import refine as R

    m = model.critic_pack
    latent = dot_space(model, refine) == "latent"
    pairs = refine.pairs * m
    yp = None if ys is None else _on(model, ys[torch.arange(pairs) * total // pairs])
    if latent:
        d = model.latent_dim
        with seeded(seed, model.device):  # draw()'s chunks: one randn per chunk, as generate() calls it
            start = torch.cat([model.randn(min(batch, total - i), d) for i in range(0, total, batch)])
        with seeded(seed + PAIR_SEED, model.device):
            a, b = model.randn(pairs, d), model.randn(pairs, d)
        to_data, lr, bounds = model.generate_from, refine.lr, None
    else:
        start = draw(model, total, seed=seed, label=label, batch=batch)  # the unrefined samples, same seed
        with seeded(seed + PAIR_SEED, model.device):
            a, b = model.sample(pairs, y=yp), model.sample(pairs, y=yp)
        # the step is given in the critic's input units; vectors reach it divided by the data's scale
        to_data, lr = (lambda t, y: t), refine.lr * model.info.scale
        bounds = (-1.0, 1.0) if model.info.is_image else None  # images stay images

    def critic_of(y):
        return lambda t: model.critic(to_data(t, y), y=y)

    k_eff = R.effective_lipschitz(critic_of(yp), a, b, group=m)
    step = max(m, batch // m * m)
    x0, out = [], []
    for i in range(0, total, step):
        yc = None if ys is None else _on(model, ys[i:i + step])
        si = start[i:i + step].to(model.device)
        moved = R.dot(critic_of(yc), si, k=k_eff * refine.k_scale, steps=refine.steps, lr=lr, group=m, bounds=bounds)
        with torch.no_grad():
            x0.append(to_data(si, yc).cpu())
            out.append(to_data(moved, yc).cpu())
    x, x0 = torch.cat(out), torch.cat(x0)
    shift = float((x - x0).flatten(1).norm(dim=1).mean())
    return x, {"k_eff": k_eff, "mean_shift": shift, "moved_in": "latent" if latent else "data"}


def _drs(model, total: int, ys, *, seed: int, batch: int, refine: Refinement) -> tuple[torch.Tensor, dict]:
    from genlab import refine as R

    m = model.critic_pack
    # one DRS per class (the caller seeded the draws): D̃*_M bounds p_data / p_G for one class at a time
    groups = [(None, torch.arange(total))] if ys is None else [(c, (ys == c).nonzero().reshape(-1))
                                                                for c in ys.unique().tolist()]
    x, accepted, draws, d_max = None, 0, 0, []
    for c, pos in groups:
        def labels(j: int, c=c):
            return None if c is None else torch.full((j,), c, dtype=torch.long, device=model.device)

        xc, st = R.drs(lambda t, c=c: model.critic(t, y=labels(len(t), c)),
                       lambda j, c=c: model.sample(j * m, y=labels(j * m, c)),
                       len(pos) // m, group=m, percentile=refine.percentile, burn_in=refine.burn_in,
                       eps=refine.eps, batch=batch, max_draws=refine.max_draws)
        xc = xc.cpu()
        if x is None:
            x = torch.empty(total, *xc.shape[1:], dtype=xc.dtype)
        x[pos] = xc
        accepted, draws = accepted + st["accepted"], draws + st["draws"]
        d_max.append(st["d_max"])
    # counted in samples (a pack of m is m samples accepted or rejected together)
    return x, {"acceptance": accepted / draws, "draws": draws * m, "d_max": max(d_max)}


def write_samples(run: Path, *, n: int, out: Path, seed: int = 0, ema: bool | None = None, label: int | None = None,
                  refine: Refinement | None = None) -> dict | None:
    """Write the samples (``ema``: as for :func:`genlab.load`, the EMA weights when the run has
    them by default); returns the refinement's record (settings, K_eff or acceptance) or None."""
    from genlab.runs import load
    from genlab.report.figures import save_samples

    refine = as_refinement(refine)
    loaded = load(run, ema=ema)
    model = loaded.model
    check_critic(model, refine, name=loaded.name)
    ext = out.suffix.lower()
    if ext == ".csv" and model.info.is_image:
        raise BadInputError("--out .csv is for vector data; use .png or .npy for images")
    x, record = draw_refined(model, n, seed=seed, label=label, refine=refine)  # plain draw() when None
    out.parent.mkdir(parents=True, exist_ok=True)
    if ext == ".png":
        nrow, legend = None, (None, None)
        if model.conditional and label is None and model.info.is_image:
            from genlab.models.conditional import class_grid

            x, nrow = class_grid(x, model.info.num_classes)  # one row per class, named
            legend = model.preview_legend(loaded.config.get("class_names") or [])
        name = loaded.name if refine is None else f"{loaded.name}+{refine.method}"
        save_samples(x, out, modes=loaded.modes, title=f"{name} ({loaded.data})", nrow=nrow, legend=legend)
    elif ext == ".npy":
        def write_npy(tmp):
            with open(tmp, "wb") as f:  # closed (and so complete) before atomic_write fsyncs it
                np.save(f, x.numpy())

        atomic_write(out, write_npy)
    else:
        atomic_write(out, lambda tmp: np.savetxt(tmp, x.numpy(), delimiter=",", fmt="%.6g"))
    return record
