"""Where the trainer sends its numbers and figures: ``metrics.csv`` always, TensorBoard on request.

A logger has three methods, called by the trainer on the main process only:

- ``scalars(step, row)``: one row of numbers (losses, health signals), every ``log_every`` steps;
- ``samples(step, x, real=, modes=, title=)``: the sample grid (images) or points (vectors)
  that the trainer also saves under ``samples/``;
- ``close()``.

``metrics.csv`` is part of the run folder (the report and resumed runs read it), so it is
written whatever ``--logger`` says; ``--logger tensorboard`` adds event files under
``RUN/tensorboard/`` (``tensorboard --logdir RUN``).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from genlab.errors import BadInputError

LOGGERS = ("csv", "tensorboard")
TENSORBOARD_DIR = "tensorboard"
MISSING_TENSORBOARD = ("--logger tensorboard needs the tensorboard package, which is not installed; "
                       "pip install 'genlab[tensorboard]' or use --logger csv")


def tensorboard_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("tensorboard") is not None
    except (ImportError, ValueError):  # a broken install, or one removed from sys.modules
        return False


class CsvLogger:
    """metrics.csv: one row every log_every steps; on resume the rows past the checkpoint are dropped.

    The trimmed file is written to a temporary name and renamed, and rows are appended and
    flushed one by one, so a crash at any moment leaves a readable file whose rows end at or
    before the step where the process died.
    """

    def __init__(self, path: Path, start: int, extra: tuple[str, ...] = ()):
        self.path, self.extra, self.fields, self.f, self.w = Path(path), extra, None, None, None
        self.rows_kept: list[dict] = []
        if start and self.path.exists():
            self.fields, self.rows_kept = _read_rows(self.path, upto=start)

    def scalars(self, step: int, row: dict) -> None:
        if self.f is None:  # the columns are fixed by the first row (and the kept header)
            from genlab.io import atomic_write

            fields = list(self.fields or [])
            fields += [k for k in dict.fromkeys([*row, *self.extra]) if k not in fields]
            self.fields = fields

            def write(tmp):
                with open(tmp, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore", restval="")
                    w.writeheader()
                    w.writerows(self.rows_kept)

            atomic_write(self.path, write)
            self.f = open(self.path, "a", newline="")
            self.w = csv.DictWriter(self.f, fieldnames=fields, extrasaction="ignore", restval="")
        self.w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        self.f.flush()

    write = scalars  # the name the trainer used before loggers were pluggable

    def samples(self, step: int, x, *, real=None, modes=None, title: str = "") -> None:
        pass  # the trainer's samples/*.png are the CSV logger's figures

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


def time_so_far(run_dir: Path, start: int) -> float:
    """The training seconds metrics.csv recorded up to step ``start`` (0 for a new run): a resumed
    run's ``time`` column goes on from there instead of restarting at 0."""
    if not start:
        return 0.0
    _, rows = _read_rows(Path(run_dir) / "metrics.csv", upto=start)
    try:
        return float(rows[-1]["time"]) if rows else 0.0
    except (KeyError, TypeError, ValueError):
        return 0.0


def _read_rows(path: Path, *, upto: int) -> tuple[list[str], list[dict]]:
    """Header and rows with step <= ``upto``; a damaged last row (a crash mid-line) is dropped."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields = list(reader.fieldnames or [])
            rows = []
            for r in reader:
                try:
                    step = int(float(r.get("step") or "nan"))
                except (TypeError, ValueError, OverflowError):
                    continue
                if step <= upto and None not in r:
                    rows.append(r)
    except (OSError, UnicodeDecodeError, csv.Error):
        return [], []
    return fields, rows


class TensorBoardLogger:
    """Event files under RUN/tensorboard: scalars grouped as loss/ health/ train/, sample figures."""

    HEALTH = ("grad_norm", "d_acc", "modes", "skipped", "gp", "wasserstein")
    LOSS = ("loss", "recon", "kl", "iwae", "cycle", "identity")

    def __init__(self, run_dir: Path, start: int):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise BadInputError(MISSING_TENSORBOARD) from None
        # purge_step drops events a killed run wrote past the checkpoint it resumes from
        self.writer = SummaryWriter(str(Path(run_dir) / TENSORBOARD_DIR), purge_step=start or None)

    def _tag(self, key: str) -> str:
        if key.startswith(self.HEALTH):
            return f"health/{key}"
        if key.startswith(self.LOSS):
            return f"loss/{key}"
        return f"train/{key}"

    def scalars(self, step: int, row: dict) -> None:
        for key, value in row.items():
            if key == "step" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(value):
                self.writer.add_scalar(self._tag(key), value, step)
        self.writer.flush()

    def samples(self, step: int, x, *, real=None, modes=None, title: str = "") -> None:
        if x.dim() == 4:  # (N, C, H, W) in [-1, 1]
            from torchvision.utils import make_grid

            grid = make_grid(((x.float() + 1) / 2).clamp(0, 1), nrow=max(1, int(math.sqrt(len(x)))), padding=2)
            self.writer.add_image("samples", grid, step)
        else:
            import matplotlib.pyplot as plt

            from genlab.report.figures import scatter_figure

            fig, _ = scatter_figure(x, real=real, modes=modes, title=title)
            self.writer.add_figure("samples", fig, step, close=True)
            plt.close(fig)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class Loggers:
    """Fan-out to several loggers."""

    def __init__(self, loggers: list):
        self.loggers = loggers

    def scalars(self, step: int, row: dict) -> None:
        for lg in self.loggers:
            lg.scalars(step, row)

    write = scalars

    def samples(self, step: int, x, **kw) -> None:
        for lg in self.loggers:
            lg.samples(step, x, **kw)

    def close(self) -> None:
        for lg in self.loggers:
            lg.close()


def make_logger(kind: str, run_dir: Path, start: int, extra: tuple[str, ...] = ()) -> Loggers:
    """The run's loggers: metrics.csv, plus TensorBoard when ``kind == "tensorboard"``."""
    if kind not in LOGGERS:
        raise BadInputError(f"logger {kind!r} is not known; valid: {', '.join(LOGGERS)}")
    loggers: list = []
    if kind == "tensorboard":  # first: a missing package fails before metrics.csv is touched
        loggers.append(TensorBoardLogger(run_dir, start))
    loggers.insert(0, CsvLogger(Path(run_dir) / "metrics.csv", start, extra))
    return Loggers(loggers)
