"""Likelihood of held-out data under a VAE: the ELBO and the importance-weighted bound.

With ``k`` posterior samples ``z_i ~ q(z|x)`` and weights ``w_i = p(x, z_i) / q(z_i|x)``:

- ELBO ≈ mean_i log w_i (Kingma & Welling 2014), a lower bound on log p(x);
- L_k = log (1/k) Σ_i w_i (Burda et al. 2016), also a lower bound, never looser than the ELBO
  for the same draws (Jensen) and tightening towards log p(x) as k grows. ``-L_k`` with
  k=5000 is the usual "NLL" of the VAE literature (IWAE paper, Table 1).

Both are per example in nats; bits/dim divides by D·ln 2. Any model with ``log_weights(x, k)``
(the VAE family) qualifies.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


@torch.no_grad()
def log_weights(model, x: Tensor, k: int, *, budget: int = 4096) -> Tensor:
    """(N, ...) -> (N, k) log importance weights, computed in chunks of about ``budget``
    decoder passes so that k=5000 fits in memory. Draws are independent, so chunking over
    the k axis is exact."""
    was = model.training
    model.eval()
    try:
        rows = []
        per_item = min(k, budget)
        items = max(1, budget // per_item)
        for i in range(0, len(x), items):
            xb = x[i:i + items].to(model.device)
            parts, done = [], 0
            while done < k:
                kc = min(per_item, k - done)
                parts.append(model.log_weights(xb, kc).double().cpu())
                done += kc
            rows.append(torch.cat(parts, dim=1))
        return torch.cat(rows)
    finally:
        model.train(was)


def bounds(lw: Tensor) -> tuple[Tensor, Tensor]:
    """Per-example ELBO estimate and IW bound L_k from (N, k) log weights."""
    k = lw.shape[1]
    return lw.mean(1), torch.logsumexp(lw, dim=1) - math.log(k)


def likelihood_scores(model, x: Tensor, *, k: int = 100, budget: int = 4096) -> dict[str, float]:
    """ELBO, importance-weighted NLL (k samples) and bits/dim, averaged over the examples ``x``.

    ``nll`` is ``-L_k`` (nats, an upper bound on the true NLL); ``neg_elbo`` is ``-ELBO``,
    so ``nll <= neg_elbo`` always holds for the same draws.
    """
    lw = log_weights(model, x, k, budget=budget)
    elbo, lk = bounds(lw)
    dims = math.prod(x.shape[1:])
    nll = float(-lk.mean())
    return {
        "elbo": float(elbo.mean()),
        "neg_elbo": float(-elbo.mean()),
        "nll": nll,
        "bpd": nll / (dims * math.log(2)),
        "nll_se": float(lk.std() / math.sqrt(len(lk))) if len(lk) > 1 else math.nan,
        "k": k,
        "dims": dims,
    }
