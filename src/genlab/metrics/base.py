"""What every metric shares: the ``Result`` a metric returns, the ``Score`` it becomes, the
``MetricSpec`` of the registry, and the smallest context a metric can run on.

A metric function takes a context and returns a ``Result``. The context hands it the samples
and the reference data (``genlab.evaluation.EvalContext`` draws and loads them for a trained
run; :class:`SampleSet` wraps samples already drawn); metrics never draw or load anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor


@dataclass
class Result:
    """What a metric function returns; ``space`` says what it compared (for the provenance)."""

    value: float
    space: str = "raw"  # "raw" points | "features" (the extractor) | "classifier" | "none" (no sample sets)
    n_real: int = 0
    n_fake: int = 0
    detail: dict = field(default_factory=dict)


@dataclass
class Score:
    """One number with everything needed to trust it: sample counts, extractor, reference, seed."""

    metric: str
    value: float
    n_real: int
    n_fake: int
    extractor: str  # "raw", "none", "mnist5k_cls", "inception", ...
    extractor_sha256: str | None
    reference: str  # e.g. "mnist5k:test", or "ring8:modes" for the known mode centres
    seed: int
    genlab_version: str
    run: str
    step: int | None = None
    detail: dict = field(default_factory=dict)
    refine: dict | None = None  # critic-guided sampling behind the samples (genlab.refine), None: plain samples
    ema: bool = False  # drawn with the EMA weights of the generator (genlab.load's default when a run has them)

    def to_dict(self) -> dict:
        """JSON-safe: a non-finite value (no HQ sample -> infinite reverse KL) becomes null."""
        d = asdict(self)
        if not math.isfinite(self.value):
            d["value"], d["nonfinite"] = None, str(self.value)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Score:
        d = dict(d)
        nonfinite = d.pop("nonfinite", None)
        if d.get("value") is None:
            d["value"] = float(nonfinite or "nan")
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class MetricSpec:
    fn: Callable  # fn(ctx) -> Result
    help: str  # one line for `genlab eval --help` and the docs
    better: str  # "higher" | "lower" | "one" (closest to 1 is best)
    needs: tuple[str, ...] = ()  # what the run must offer: modes, vector, image, points, classifier, recon, likelihood
    default: bool = True  # part of the default set whenever its needs are met...
    default_unless: tuple[str, ...] = ()  # ...unless the run also offers one of these


class Context:
    """The memo every context offers: expensive shared pieces (features, neighbourhoods) once."""

    def __init__(self) -> None:
        self._memo: dict = {}

    def memo(self, key: str, compute: Callable):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


class SampleSet(Context):
    """Samples already drawn, with the data's known mode centres: enough for the mode scores
    (``modes``, ``hq``, ``reverse_kl``), e.g. the trainer's live mode count."""

    def __init__(self, samples: Tensor, *, modes: Tensor, mode_std: float):
        super().__init__()
        self.samples, self.modes, self.mode_std = samples, modes, mode_std
        self.n_fake = len(samples)

    def fake(self) -> Tensor:
        return self.samples
