"""The one training loop, for every family, on Lightning Fabric.

For each step and each due phase of the model: take the next batch, seed the noise, make only
that phase's parameters trainable, ``model.loss(phase, batch)``, backward, step. The trainer
owns devices, precision and data parallelism (Fabric), EMA, logging, sample figures,
checkpoints, interruption and the NaN guard. It knows no model by name.

Determinism: batch order and every noise draw are functions of ``(seed, batch counter)`` only,
so a resumed run reproduces an uninterrupted one bit for bit, and under data parallelism
each rank sees exactly its slice of what one process would see for the global batch.
"""

from __future__ import annotations

import math
import random
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from genlab.config import TrainConfig
from genlab.data import DataBundle
from genlab.errors import BadInputError, GenlabError
from genlab.models.base import GenerativeModel
from genlab.report.loggers import make_logger
from genlab.training.checkpoint import save_checkpoint

SAMPLE_N = {"image": 64, "vector": 1000}
MAX_BAD_IN_A_ROW = 50  # nan_policy=skip gives up after this many bad updates in a row


class TrainingDiverged(GenlabError):
    """A NaN/Inf loss or an exploding gradient stopped the run."""


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


class PeerLost(GenlabError):
    """Another process of a data-parallel run ended: this one stops instead of waiting forever."""


def batch_seed(seed: int, k: int) -> int:
    """A distinct, reproducible seed per (run seed, batch counter)."""
    return (seed * 1_000_003 + k * 7_919 + 12_345) % (2**63 - 1)


class BatchSource:
    """Batches drawn without replacement, epoch by epoch, from a reproducible permutation."""

    def __init__(self, x: torch.Tensor, batch_size: int, seed: int, rank: int, world: int):
        if len(x) < batch_size:
            raise BadInputError(f"batch_size {batch_size} is larger than the dataset ({len(x)} items); "
                                f"use --batch-size {len(x)} or less")
        self.x, self.bs, self.seed = x, batch_size, seed
        self.local = batch_size // world
        self.lo = rank * self.local
        self.per_epoch = len(x) // batch_size
        self._epoch, self._perm = -1, None

    def indices(self, k: int) -> torch.Tensor:
        epoch, pos = divmod(k, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 7_777 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(len(self.x), generator=g)
        start = pos * self.bs + self.lo
        return self._perm[start:start + self.local]


class Trainer:
    def __init__(self, model: GenerativeModel, data: DataBundle, cfg: TrainConfig, run_dir: Path,
                 *, quiet: bool = False, resume_state: dict | None = None, resume_ema: dict | None = None,
                 command: str = ""):
        self.model, self.data, self.cfg, self.run_dir = model, data, cfg, Path(run_dir)
        self.quiet, self.resume_state, self.resume_ema, self.command = quiet, resume_state, resume_ema, command
        self.stop_signal: int | None = None

    # -- setup ----------------------------------------------------------------------------

    def _fabric(self):
        from lightning_fabric import Fabric

        cfg = self.cfg
        strategy = "ddp" if cfg.devices > 1 else "auto"
        try:
            return Fabric(accelerator=cfg.accelerator, devices=cfg.devices, precision=cfg.precision,
                          strategy=strategy)
        except (RuntimeError, ValueError, TypeError) as e:  # e.g. --accelerator cuda without a GPU
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BadInputError(f"cannot use accelerator={cfg.accelerator!r}, devices={cfg.devices}, "
                                f"precision={cfg.precision!r} here: {first}") from None

    def _setup(self):
        model, cfg = self.model, self.cfg
        fabric = self._fabric()
        fabric.launch()
        self.fabric = fabric
        model.noise_rank, model.noise_world = fabric.global_rank, fabric.world_size
        if fabric.world_size > 1 and fabric.is_global_zero:
            print(f"data parallel: {fabric.world_size} processes ({type(fabric.strategy).__name__}, "
                  f"{self.cfg.batch_size // fabric.world_size} samples each)", file=sys.stderr, flush=True)
        opts = model.configure_optimizers(cfg.lr)
        self.attrs = sorted({a for names in model.parts.values() for a in names})
        self.originals = {a: getattr(model, a) for a in self.attrs}
        # Fabric's wrappers earn their per-call cost only with several processes or mixed
        # precision; one process in full precision runs the plain modules (same maths, and the
        # trainer then costs next to nothing over a hand-written loop)
        self.wrapped = fabric.world_size > 1 or cfg.precision != "32-true"
        for a in self.attrs:  # each part on its own: DDP of G and D separately, as Fabric wants
            m = self.originals[a]
            setattr(model, a, fabric.setup_module(m) if self.wrapped else m.to(fabric.device))
        # buffers outside the parts (e.g. an autoencoder's code statistics) follow the device
        for name, buf in list(model.named_buffers(recurse=False)):
            setattr(model, name, buf.to(fabric.device))
        self.opts = {p: fabric.setup_optimizers(o) if self.wrapped else o for p, o in opts.items()}
        self.base_lrs = {p: [g["lr"] for g in o.param_groups] for p, o in self.opts.items()}
        self.ema = None
        if cfg.ema and model.ema_part:
            self.ema = AveragedModel(self.originals[model.ema_part], use_buffers=True,
                                     multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay))
            if self.resume_ema:
                self.ema.module.load_state_dict(self.resume_ema)
        rank, world = fabric.global_rank, fabric.world_size
        self.sources = {"x": BatchSource(self.data.x, cfg.batch_size, cfg.seed, rank, world)}
        if self.data.x_b is not None:
            self.sources["x_b"] = BatchSource(self.data.x_b, cfg.batch_size, cfg.seed + 1, rank, world)
        self.start = 0
        if self.resume_state is not None:
            self._restore(self.resume_state)

    def _restore(self, state: dict) -> None:
        for p, o in self.opts.items():
            o.load_state_dict(state["optimizers"][p])
        if self.ema is not None and "ema_n_averaged" in state:
            self.ema.n_averaged.fill_(int(state["ema_n_averaged"]))
        rng = state.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "python" in rng:
            random.setstate(_as_tuple(rng["python"]))
        self.start = int(state["step"])

    # -- state ----------------------------------------------------------------------------

    def weights(self) -> dict[str, torch.Tensor]:
        sd = dict(self.model.state_dict())  # Fabric wrappers hand back their module's own keys
        if self.ema is not None:
            sd.update({f"ema.{k}": v for k, v in self.ema.module.state_dict().items()})
        return sd

    def state(self, step: int) -> dict:
        return {
            "step": step,
            "optimizers": {p: o.state_dict() for p, o in self.opts.items()},
            "rng": {"torch": torch.get_rng_state(), "python": list(_as_list(random.getstate()))},
            "ema_n_averaged": int(self.ema.n_averaged) if self.ema is not None else 0,
        }

    def checkpoint(self, step: int) -> None:
        if self.fabric.is_global_zero:
            save_checkpoint(self.run_dir, self.weights(), self.state(step), step, keep_last=self.cfg.keep_last)
        self.fabric.barrier()

    # -- the loop -------------------------------------------------------------------------

    def set_phase(self, phase: str) -> None:
        if not hasattr(self, "_part_params"):  # gathered once: module walks cost per step
            self._part_params = {a: list(self.originals[a].parameters()) for a in self.attrs}
        set_trainable(self.model, phase, self._part_params)

    def batch(self, k: int) -> dict:
        dev = self.fabric.device
        idx = self.sources["x"].indices(k)
        b = {"x": self.data.x[idx].to(dev, non_blocking=True),
             "y": self.data.y[idx].to(dev) if self.data.y is not None else None}
        if "x_b" in self.sources:
            b["x_b"] = self.data.x_b[self.sources["x_b"].indices(k)].to(dev)
        return b

    def fit(self) -> GenerativeModel:
        # handlers first: a signal during start-up (process launch, data to device) must still
        # end every rank through the agreed stop, not kill rank 0 and orphan the workers
        old_handlers = self._install_signals()
        grace = 30.0
        try:
            self._setup()
            return self._fit()
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, workers included
            grace = 0.0
            raise
        except Exception as e:
            fabric = getattr(self, "fabric", None)  # None: the start itself failed
            if fabric is not None and fabric.world_size > 1 and _is_peer_failure(e):
                raise PeerLost(
                    f"another process of this {fabric.world_size}-process run stopped "
                    f"({_first_sentence(e)}); the last checkpoint in {self.run_dir} is kept; "
                    f"resume with --resume") from None
            raise
        finally:
            self._restore_signals(old_handlers)
            self._reap_workers(grace)

    def _fit(self) -> GenerativeModel:
        model, cfg, fabric = self.model, self.cfg, self.fabric
        model.train()
        reps = model.repeats()
        per_step = sum(reps.values())
        total = cfg.steps
        extra = ("modes", "skipped") if self.data.modes is not None else ("skipped",)
        self.log = log = make_logger(cfg.logger, self.run_dir, self.start, extra) if fabric.is_global_zero else None
        self.bad_in_a_row = 0
        progress = _Progress(total, self.start, quiet=self.quiet or not fabric.is_global_zero)
        skipped, t0, logs, step = 0, time.perf_counter(), {}, self.start
        phase_params = {p: model.phase_parameters(p) for p in model.phases}
        try:
            for step in range(self.start, total):
                factor = model.lr_factor(step, total)
                if factor != 1.0 or step == self.start:
                    for p, o in self.opts.items():
                        for g, lr in zip(o.param_groups, self.base_lrs[p]):
                            g["lr"] = lr * factor
                k = step * per_step
                check_grads = (step + 1) % cfg.log_every == 0
                for phase in model.phases:
                    for _ in range(reps[phase]):
                        seed_noise(batch_seed(cfg.seed, k), fabric.device)
                        batch = self.batch(k)
                        k += 1
                        self.set_phase(phase)
                        with _inner_autograd_allowed():
                            loss, out = model.loss(phase, batch)
                        opt = self.opts[phase]
                        if not math.isfinite(loss.item()):
                            skipped += self._diverged(step, phase, "loss", loss.item())
                            continue
                        opt.zero_grad(set_to_none=True)
                        fabric.backward(loss) if self.wrapped else loss.backward()
                        # checked at every update: one Inf gradient would poison the weights for good
                        gn = _grad_norm(phase_params[phase])
                        if check_grads:
                            out[f"grad_norm_{phase}"] = gn
                        if not math.isfinite(gn) or gn > cfg.max_grad_norm:
                            skipped += self._diverged(step, phase, "gradient norm", gn)
                            opt.zero_grad(set_to_none=True)
                            continue
                        opt.step()
                        self.bad_in_a_row = 0
                        logs.update(out)
                if self.ema is not None:
                    self.ema.update_parameters(self.originals[model.ema_part])
                done = step + 1
                if log is not None and (done % cfg.log_every == 0 or done == total):
                    row = {"step": done, "time": round(time.perf_counter() - t0, 3), **logs}
                    if self.data.modes is not None and done % (cfg.log_every * 10) == 0:
                        row["modes"] = self._live_modes()
                    if skipped:
                        row["skipped"] = skipped
                    log.scalars(done, row)
                progress.update(done, logs)
                if cfg.sample_every and done % cfg.sample_every == 0 and done != total:
                    self.write_samples(done)
                if done % cfg.ckpt_every == 0 and done != total:
                    self.checkpoint(done)
                stop = self._agreed_stop()
                if stop:
                    self.checkpoint(done)
                    raise TrainingInterrupted(
                        f"interrupted at step {done}/{total}; checkpoint saved in {self.run_dir}; "
                        f"resume with: {self.command or 'genlab train ... --out ' + str(self.run_dir)} --resume",
                        signum=stop, report=fabric.is_global_zero)
            self._check_skipped(skipped, (total - self.start) * per_step)
            self.checkpoint(total)
            self.write_samples(total)
        finally:
            progress.close()
            for a in self.attrs:  # hand back plain modules
                setattr(model, a, self.originals[a])
            if log is not None:
                log.close()
        model.eval()
        return model

    def _agreed_stop(self) -> int:
        """The signal to stop on, agreed by every rank: a signal may reach one process only
        (``kill PID``), and a rank that stopped alone would leave the others in a collective."""
        if self.fabric.world_size == 1:
            return self.stop_signal or 0
        import torch.distributed as dist

        flag = torch.tensor([self.stop_signal or 0], dtype=torch.int64, device=self.fabric.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item())

    def _check_skipped(self, skipped: int, updates: int) -> None:
        """Skipped updates are reported; a run that skipped most of them did not train."""
        if not skipped:
            return
        msg = f"nan_policy=skip skipped {skipped} of {updates} updates (non-finite loss or gradient)"
        if skipped * 2 > updates:
            raise TrainingDiverged(f"{msg}: training diverged; {self._kept()}; lower --lr")
        if self.fabric.is_global_zero:
            print(f"warning: {msg}", file=sys.stderr, flush=True)

    def _reap_workers(self, grace: float) -> None:
        """Rank 0 of a launched data-parallel run leaves no worker behind: each has finished
        (or is finishing) by now; one still alive after a grace period is stuck and is killed."""
        launcher = getattr(getattr(self, "fabric", None), "_strategy", None)
        procs = getattr(getattr(launcher, "launcher", None), "procs", None) or []
        for p in procs:
            try:
                p.wait(timeout=grace)
            except Exception:  # still alive after the grace period: stuck in a collective
                p.kill()
                p.wait()

    def _kept(self) -> str:
        """What a diverged run leaves: its last good checkpoint, or nothing."""
        if (self.run_dir / "state.pt").is_file():
            return f"the last good checkpoint in {self.run_dir} is kept"
        return "no checkpoint was saved yet, so the run leaves nothing behind"

    def _diverged(self, step: int, phase: str, what: str, value: float) -> int:
        self.bad_in_a_row += 1
        if self.cfg.nan_policy == "skip" and self.bad_in_a_row < MAX_BAD_IN_A_ROW:
            return 1
        kept = self._kept()
        if self.cfg.nan_policy == "skip":  # skipping cannot help when every batch is bad
            raise TrainingDiverged(
                f"{what} is {value:.4g} at step {step + 1}, phase {phase!r}, and the last {MAX_BAD_IN_A_ROW} "
                f"updates were all skipped: training diverged; {kept}; lower --lr")
        raise TrainingDiverged(
            f"{what} is {value:.4g} at step {step + 1}, phase {phase!r}: training diverged; {kept}; "
            f"lower --lr, or --set nan_policy=skip to skip bad batches")

    # -- side outputs ---------------------------------------------------------------------

    @contextmanager
    def _plain_modules(self):
        """Work done on one rank only (figures, live scores) runs the unwrapped modules: a DDP
        wrapper's forward broadcasts BatchNorm buffers, a collective the other ranks never join."""
        wrapped = {a: getattr(self.model, a) for a in self.attrs}
        for a in self.attrs:
            setattr(self.model, a, self.originals[a])
        try:
            yield
        finally:
            for a, m in wrapped.items():
                setattr(self.model, a, m)

    @torch.no_grad()
    def _live_modes(self) -> int:
        from genlab.metrics.toy2d import count_modes

        state = torch.get_rng_state()
        torch.manual_seed(self.cfg.seed)
        with self._plain_modules():
            pts = self.model.sample(1000)
        torch.set_rng_state(state)
        return count_modes(pts.cpu(), self.data.modes, self.data.mode_std)

    @torch.no_grad()
    def write_samples(self, step: int) -> None:
        if not self.fabric.is_global_zero:
            return
        from genlab.report.figures import real_subset, save_samples

        state = torch.get_rng_state()
        torch.manual_seed(self.cfg.seed)  # the same noise at every step: progress is comparable
        n = SAMPLE_N["image" if self.data.x.dim() == 4 else "vector"]
        with self._plain_modules():
            x, nrow = self.model.preview(n)
        x = x.cpu()
        torch.set_rng_state(state)
        real = real_subset(self.data.x) if x.dim() == 2 else None
        save_samples(x, self.run_dir / "samples" / f"step_{step:07d}.png", real=real,
                     modes=self.data.modes, title=f"{self.cfg.model} step {step}", nrow=nrow)
        if getattr(self, "log", None) is not None:
            self.log.samples(step, x, real=real, modes=self.data.modes, title=f"{self.cfg.model} step {step}")

    def _install_signals(self):
        if not _main_thread():
            return None

        def handler(signum, frame):
            if self.stop_signal is not None:  # second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.stop_signal = signum

        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in old:
            signal.signal(s, handler)
        return old

    @staticmethod
    def _restore_signals(old) -> None:
        for s, h in (old or {}).items():
            signal.signal(s, h)


# ----------------------------------------------------------------------------- helpers


def seed_noise(seed: int, device: torch.device) -> None:
    """Seed the generators the loss draws from. Only the CPU one (and the current GPU's):
    ``torch.manual_seed`` also queues seeds for every lazy device backend, recording a stack
    trace each time, which costs more than a whole 2-D GAN step."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed(seed)


def set_trainable(model: GenerativeModel, phase: str, part_params: dict[str, list] | None = None) -> None:
    """Only ``phase``'s parts get gradients; the others are frozen for this update.
    ``part_params`` ({part: its parameters}) may be passed in to skip walking the modules."""
    if part_params is None:
        names = {n for names in model.parts.values() for n in names}
        part_params = {a: list(getattr(model, a).parameters()) for a in names}
    trainable = model.parts[phase]
    for a, params in part_params.items():
        for p in params:
            p.requires_grad_(a in trainable)


@contextmanager
def _inner_autograd_allowed():
    """The gradient penalty calls torch.autograd.grad inside the loss; under mixed precision
    Fabric's guard would take that inner backward for a forgotten ``fabric.backward``."""
    try:
        import lightning_fabric.wrappers as wrappers
    except ImportError:  # pragma: no cover
        yield
        return
    old = getattr(wrappers, "_in_fabric_backward", False)
    wrappers._in_fabric_backward = True
    try:
        yield
    finally:
        wrappers._in_fabric_backward = old


def _is_peer_failure(e: BaseException) -> bool:
    """A collective failed because another process went away (gloo/NCCL report it as an error)."""
    import torch.distributed as dist

    if isinstance(e, getattr(dist, "DistError", ())):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and any(
        w in text for w in ("connection closed by peer", "connection reset", "broken pipe", "gloo", "nccl"))


def _first_sentence(e: BaseException) -> str:
    """'[gloo/pair.cc:561] Connection closed by peer [127.0.0.1]:4. This...' -> 'Connection closed by peer'."""
    import re

    text = re.sub(r"\[[^\]]*\]:?\d*", "", str(e)).strip()
    return (text.split(".")[0].strip() or type(e).__name__)[:100]


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _grad_norm(params) -> float:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))  # one fused kernel


def _as_list(x):
    return [_as_list(v) for v in x] if isinstance(x, tuple) else x


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, list) else x


class _Progress:
    """A rich progress bar on a terminal; a plain line every 10% otherwise (readable CI logs)."""

    def __init__(self, total: int, start: int, *, quiet: bool):
        self.total, self.quiet, self.t0, self.start = total, quiet, time.perf_counter(), start
        self.tty = sys.stderr.isatty() and not quiet
        self.next_print = start + max(1, total // 10)
        self.bar = None
        if self.tty:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.bar = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[speed]} it/s"), TimeElapsedColumn(),
                                TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
                                transient=False, console=Console(stderr=True))  # stdout stays for results
            self.task = self.bar.add_task("train", total=total, completed=start, speed="-", losses="")
            self.bar.start()

    def _speed(self, done: int) -> float:
        return (done - self.start) / max(time.perf_counter() - self.t0, 1e-9)

    def update(self, done: int, logs: dict) -> None:
        if self.quiet:
            return
        losses = " ".join(f"{k}={v:.3g}" for k, v in logs.items() if k.startswith("loss") or k in ("recon", "kl"))
        if self.bar is not None:
            if done % 5 == 0 or done == self.total or done == self.start + 1:
                self.bar.update(self.task, completed=done, speed=f"{self._speed(done):.1f}", losses=losses)
        elif done >= self.next_print or done == self.total:
            self.next_print = done + max(1, self.total // 10)
            print(f"step {done}/{self.total}  {self._speed(done):.1f} it/s  {losses}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
