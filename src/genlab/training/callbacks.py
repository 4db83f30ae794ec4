"""What hangs off the training loop: logging rows, the progress bar, checkpoints, sample figures,
live scores and interruption. The loop does the updates; after every step it hands the step
and its logs to each callback in turn, so a side output is added or changed here, never there.

A callback may define any of these hooks (the base class gives empty ones), called on every
process of a data-parallel run, each deciding what rank 0 alone does:

- ``on_launch(trainer)``: before the processes start (signal handlers must be in place first);
- ``on_start(trainer)``: once the model and optimizers are set up, before the first step;
- ``on_step(trainer, step, logs)``: after the updates of each step (``step``: steps done);
- ``on_end(trainer, step)``: after the last step, when the run finished;
- ``on_close(trainer)``: always, last, whether the run finished, failed or was interrupted.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Mapping

import torch

from genlab.errors import GenlabError
from genlab.report.loggers import make_logger, time_so_far

SAMPLE_N = {"image": 64, "vector": 1000}
LIVE_MODES_EVERY = 10  # the live mode count goes into every tenth metrics row (it draws 1,000 samples)


class TrainingInterrupted(GenlabError):
    """Ctrl-C or SIGTERM: a checkpoint was saved; the run can be resumed.
    Exits with the shell's convention for a signal: 128 + its number (130 SIGINT, 143 SIGTERM)."""

    exit_code = 130

    def __init__(self, message: str, *, signum: int = signal.SIGINT, report: bool = True):
        super().__init__(message)
        # The other ranks of a data-parallel run exit 0 after the shared checkpoint: the launcher
        # kills the whole group as soon as any worker ends non-zero, which would cut rank 0 short
        self.exit_code = 128 + int(signum) if report else 0
        self.report = report


class Callback:
    """Base class: every hook does nothing (see the module docstring for when each is called)."""

    def on_launch(self, trainer) -> None:
        pass

    def on_start(self, trainer) -> None:
        pass

    def on_step(self, trainer, step: int, logs: dict) -> None:
        pass

    def on_end(self, trainer, step: int) -> None:
        pass

    def on_close(self, trainer) -> None:
        pass


def default_callbacks(*, quiet: bool, command: str) -> list[Callback]:
    """Every run's side outputs, in the order they run after a step."""
    metrics = MetricsLog()
    return [metrics, Progress(quiet=quiet), Checkpoints(), SampleFigures(metrics), Interruption(command)]


# ----------------------------------------------------------------------------- metrics.csv / TensorBoard


class MetricsLog(Callback):
    """A row every ``log_every`` steps and at the end (rank 0): the logs, the time, the live mode
    count on data with known modes, the updates skipped so far."""

    def __init__(self):
        self.logger, self.t0 = None, 0.0

    def on_start(self, trainer) -> None:
        extra = ("modes", "skipped") if trainer.data.modes is not None else ("skipped",)
        so_far = 0.0
        if trainer.fabric.is_global_zero:
            so_far = time_so_far(trainer.run_dir, trainer.start)  # read before the logger trims the file
            self.logger = make_logger(trainer.cfg.logger, trainer.run_dir, trainer.start, extra)
        self.t0 = time.perf_counter() - so_far

    def on_step(self, trainer, step: int, logs: dict) -> None:
        cfg = trainer.cfg
        if self.logger is None or not trainer.logs_at(step):
            return
        row = {"step": step, "time": round(time.perf_counter() - self.t0, 3), **logs}
        if trainer.data.modes is not None and step % (cfg.log_every * LIVE_MODES_EVERY) == 0:
            row["modes"] = live_modes(trainer)
        if trainer.skipped:
            row["skipped"] = trainer.skipped
        self.logger.scalars(step, row)

    def on_close(self, trainer) -> None:
        if self.logger is not None:
            self.logger.close()


@torch.no_grad()
def live_modes(trainer) -> int:
    """Modes covered by 1,000 samples of the current weights (same noise every time): a cheap
    live signal; final scores come from genlab.evaluation.score_run."""
    from genlab.metrics import SampleSet, compute

    state = torch.get_rng_state()
    torch.manual_seed(trainer.cfg.seed)
    with trainer.plain_modules():
        pts = trainer.model.sample(1000)
    torch.set_rng_state(state)
    live = SampleSet(pts.cpu(), modes=trainer.data.modes, mode_std=trainer.data.mode_std)
    return int(compute(["modes"], live)["modes"].value)


# ----------------------------------------------------------------------------- checkpoints and figures


class Checkpoints(Callback):
    """Every ``ckpt_every`` steps and at the end (every rank joins: the save ends in a barrier)."""

    def on_step(self, trainer, step: int, logs: dict) -> None:
        if step % trainer.cfg.ckpt_every == 0 and step != trainer.cfg.steps:
            trainer.checkpoint(step)

    def on_end(self, trainer, step: int) -> None:
        trainer.checkpoint(step)


class SampleFigures(Callback):
    """samples/step_N.png every ``sample_every`` steps and at the end (rank 0), drawn from the
    same noise every time so that progress is comparable; also sent to the logger."""

    def __init__(self, metrics: MetricsLog | None = None):
        self.metrics = metrics

    def on_step(self, trainer, step: int, logs: dict) -> None:
        every = trainer.cfg.sample_every
        if every and step % every == 0 and step != trainer.cfg.steps:
            self.write(trainer, step)

    def on_end(self, trainer, step: int) -> None:
        self.write(trainer, step)

    @torch.no_grad()
    def write(self, trainer, step: int) -> None:
        if not trainer.fabric.is_global_zero:
            return
        from genlab.report.figures import real_subset, save_samples

        data, title = trainer.data, f"{trainer.cfg.model} step {step}"
        state = torch.get_rng_state()
        torch.manual_seed(trainer.cfg.seed)  # the same noise at every step: progress is comparable
        n = SAMPLE_N["image" if len(data.sample_shape) == 3 else "vector"]
        with trainer.plain_modules():
            x, nrow = trainer.model.preview(n)
        x = x.cpu()
        torch.set_rng_state(state)
        real = real_subset(data.x) if x.dim() == 2 else None
        save_samples(x, trainer.run_dir / "samples" / f"step_{step:07d}.png", real=real, modes=data.modes,
                     title=title, nrow=nrow, legend=trainer.model.preview_legend(list(data.class_names)))
        logger = self.metrics.logger if self.metrics is not None else None
        if logger is not None:
            logger.samples(step, x, real=real, modes=data.modes, title=title)


# ----------------------------------------------------------------------------- Ctrl-C and SIGTERM


class Interruption(Callback):
    """Ctrl-C or SIGTERM ends the run after the current step, with a checkpoint and the command
    that resumes it; a second Ctrl-C stops at once. Every rank stops at the same step."""

    def __init__(self, command: str = ""):
        self.command, self.signum, self.old = command, None, None

    def on_launch(self, trainer) -> None:
        # installed before the processes start: a signal during start-up (process launch, data to
        # device) must still end every rank through the agreed stop, not kill rank 0 and orphan the workers
        if not _main_thread():
            return

        def handler(signum, frame):
            if self.signum is not None:  # second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.signum = signum

        self.old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in self.old:
            signal.signal(s, handler)

    def on_step(self, trainer, step: int, logs: dict) -> None:
        if trainer.fabric.world_size > 1 and not trainer.logs_at(step):
            return  # the ranks agree at logged steps: no collective and host read every step
        stop = self.agreed_stop(trainer)
        if stop:
            trainer.checkpoint(step)
            resume = self.command or f"genlab train ... --out {trainer.run_dir}"
            raise TrainingInterrupted(
                f"interrupted at step {step}/{trainer.cfg.steps}; checkpoint saved in {trainer.run_dir}; "
                f"resume with: {resume} --resume", signum=stop, report=trainer.fabric.is_global_zero)

    def agreed_stop(self, trainer) -> int:
        """The signal to stop on, agreed by every rank: a signal may reach one process only
        (``kill PID``), and a rank that stopped alone would leave the others in a collective."""
        if trainer.fabric.world_size == 1:
            return self.signum or 0
        import torch.distributed as dist

        flag = torch.tensor([self.signum or 0], dtype=torch.int64, device=trainer.fabric.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item())

    def on_close(self, trainer) -> None:
        for s, h in (self.old or {}).items():
            signal.signal(s, h)
        self.old = None


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# ----------------------------------------------------------------------------- progress


class Progress(Callback):
    """A rich progress bar on a terminal; a plain line every 10% otherwise (readable CI logs);
    nothing with ``quiet`` or on the other ranks."""

    def __init__(self, *, quiet: bool):
        self.quiet, self.bar = quiet, None

    def on_start(self, trainer) -> None:
        self.total, self.start, self.t0 = trainer.cfg.steps, trainer.start, time.perf_counter()
        self.quiet = self.quiet or not trainer.fabric.is_global_zero
        self.next_print = self.start + max(1, self.total // 10)
        if sys.stderr.isatty() and not self.quiet:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.bar = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[speed]} it/s"), TimeElapsedColumn(),
                                TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
                                transient=False, console=Console(stderr=True))  # stdout stays for results
            self.task = self.bar.add_task("train", total=self.total, completed=self.start, speed="-", losses="")
            self.bar.start()

    def _speed(self, done: int) -> float:
        return (done - self.start) / max(time.perf_counter() - self.t0, 1e-9)

    def on_step(self, trainer, step: int, logs: dict) -> None:
        if self.quiet:
            return
        losses = " ".join(f"{k}={v:.3g}" for k, v in logs.items() if k.startswith("loss") or k in ("recon", "kl"))
        if self.bar is not None:
            if step % 5 == 0 or step == self.total or step == self.start + 1:
                self.bar.update(self.task, completed=step, speed=f"{self._speed(step):.1f}", losses=losses)
        elif step >= self.next_print or step == self.total:
            self.next_print = step + max(1, self.total // 10)
            print(f"step {step}/{self.total}  {self._speed(step):.1f} it/s  {losses}", file=sys.stderr, flush=True)

    def on_close(self, trainer) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


# ----------------------------------------------------------------------------- logs on the host


class HostLogs(Mapping):
    """A step's logs as the callbacks read them: plain floats, brought from the device in one read
    when a callback first looks (a step no callback reads costs no host synchronisation)."""

    def __init__(self, tensors: dict):
        self._tensors, self._host = tensors, None

    def _read(self) -> dict:
        if self._host is None:
            items = self._tensors
            keys = [k for k, v in items.items() if isinstance(v, torch.Tensor)]
            values = torch.stack([items[k].detach().float().reshape(()) for k in keys]).tolist() if keys else []
            host = dict(zip(keys, values))
            self._host = {k: host.get(k, v) for k, v in items.items()}
        return self._host

    def __getitem__(self, key):
        return self._read()[key]

    def __iter__(self):
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._tensors)
