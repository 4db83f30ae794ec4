"""The one training loop, for every family, on Lightning Fabric.

    for step in range(start, steps):
        for each phase of the model, as many times as it repeats:
            next batch, seed the noise, only that phase's parts trainable,
            loss, backward, step (skipped on the device when the loss or gradient is not finite)
        update the EMA
        every logged step: read the logs and the guard (stop, or skip with nan_policy=skip)
        callbacks: metrics row, progress, checkpoint, sample figure, stop on Ctrl-C / SIGTERM
    callbacks at the end: the final checkpoint and sample figure

The trainer owns devices, precision and data parallelism (Fabric), the EMA and the NaN guard;
the side outputs hang off the loop as callbacks (``training/callbacks.py``). It knows no model
by name. Batches and noise are functions of ``(seed, batch counter)`` (``training/batches.py``),
which makes resume bit-exact and N processes see what one process would see.

The hot path never waits for the device: losses, logs and the guard's flags stay tensors and
reach the host once per logged step (``log_every``), as one read.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch

from genlab.config import TrainConfig
from genlab.data import DataBundle
from genlab.errors import BadInputError, GenlabError
from genlab.models.base import GenerativeModel
from genlab.training.batches import BatchSource, batch_seed, place_sources, seed_noise
from genlab.training.callbacks import Callback, HostLogs, Interruption, default_callbacks
from genlab.training.compiling import (check_compile_backend, check_layout_and_compile, compile_failure, compiled,
                                      guard_compiled, is_conv_net)
from genlab.training.checkpoint import python_rng_list, python_rng_state, save_checkpoint
from genlab.training.ema import EMA
from genlab.training.guard import Guard, fused
from genlab.training.processes import (end_process_group, first_sentence, is_peer_failure, joining, make_fabric,
                                       reap_workers, restore_collective_timeout)

MAX_BAD_IN_A_ROW = 50  # nan_policy=skip gives up after this many bad updates in a row


class TrainingDiverged(GenlabError):
    """A NaN/Inf loss or an exploding gradient stopped the run."""


class PeerLost(GenlabError):
    """Another process of a data-parallel run ended: this one stops instead of waiting forever."""


class Trainer:
    def __init__(self, model: GenerativeModel, data: DataBundle, cfg: TrainConfig, run_dir: Path,
                 *, quiet: bool = False, resume_state: dict | None = None, resume_ema: dict | None = None,
                 command: str = "", callbacks: list[Callback] | None = None,
                 abandon: Callable[[], None] | None = None):
        self.model, self.data, self.cfg, self.run_dir = model, data, cfg, Path(run_dir)
        self.abandon = abandon  # undoes what the start wrote, when a signal ends the processes' rendezvous
        self.resume_state, self.resume_ema = resume_state, resume_ema
        self.callbacks = default_callbacks(quiet=quiet, command=command) if callbacks is None else callbacks
        self.skipped, self.bad_in_a_row = 0, 0  # updates skipped by nan_policy=skip: in all, in a row

    # -- setup ----------------------------------------------------------------------------

    def _setup(self):
        model, cfg = self.model, self.cfg
        check_layout_and_compile(model, cfg)
        fabric = make_fabric(cfg)
        if cfg.compile:  # before any worker starts: a missing backend is one error line
            check_compile_backend(fabric.device)
        taken = [cb for cb in self.callbacks if isinstance(cb, Interruption)]  # a signal during start-up
        with joining(cfg.devices * cfg.num_nodes, cfg.rendezvous_timeout, abandon=self.abandon,
                     pending=lambda: next((cb.signum for cb in taken if cb.signum is not None), None)):
            fabric.launch()
        if fabric.world_size > 1:
            restore_collective_timeout()
        self.fabric = fabric
        model.noise_rank, model.noise_world = fabric.global_rank, fabric.world_size
        model.train_device = fabric.device
        if fabric.world_size > 1 and fabric.is_global_zero:
            print(f"data parallel: {fabric.world_size} processes ({type(fabric.strategy).__name__}, "
                  f"{self.cfg.batch_size // fabric.world_size} samples each)", file=sys.stderr, flush=True)
        # fused Adam: one kernel per update, and it skips a bad update on the device (guard.py)
        opts = {p: fused(o) for p, o in model.configure_optimizers(cfg.lr).items()}
        self.attrs = sorted({a for names in model.parts.values() for a in names})
        self.originals = {a: getattr(model, a) for a in self.attrs}
        # Fabric's wrappers earn their per-call cost only with several processes or mixed
        # precision; one process in full precision runs the plain modules (same maths, and the
        # trainer then costs next to nothing over a hand-written loop)
        self.wrapped = fabric.world_size > 1 or cfg.precision != "32-true"
        for a in self.attrs:  # each part on its own: DDP of G and D separately, as Fabric wants
            m = self.originals[a]
            if cfg.channels_last and is_conv_net(m):  # in place: the optimizers keep the same tensors
                m.to(memory_format=torch.channels_last)
            if self.wrapped:  # compiled first: Fabric unwraps it and compiles its DDP/precision wrapper
                m = fabric.setup_module(compiled(m) if cfg.compile else m)
            else:
                m = m.to(fabric.device)
                m = compiled(m) if cfg.compile else m
            setattr(model, a, guard_compiled(m) if cfg.compile else m)
        # buffers outside the parts (e.g. an autoencoder's code statistics) follow the device
        for name, buf in list(model.named_buffers(recurse=False)):
            setattr(model, name, buf.to(fabric.device))
        self.opts = {p: fabric.setup_optimizers(o) if self.wrapped else o for p, o in opts.items()}
        self.base_lrs = {p: [g["lr"] for g in o.param_groups] for p, o in self.opts.items()}
        self.ema = None
        if cfg.ema and model.ema_part:
            self.ema = EMA(self.originals[model.ema_part], cfg.ema_decay)
            if self.resume_ema:
                self.ema.module.load_state_dict(self.resume_ema)
        rank, world = fabric.global_rank, fabric.world_size
        # image sets stay uint8 (memory-mapped for folders): only each batch's rows become float
        self.sources = {"x": BatchSource(self.data.source("x"), cfg.batch_size, cfg.seed, rank, world)}
        if self.data.source("x_b") is not None:
            self.sources["x_b"] = BatchSource(self.data.source("x_b"), cfg.batch_size, cfg.seed + 1, rank, world)
        self.labels = place_sources(self.sources, self.data.y, fabric.device)  # on a GPU when they fit there
        self.guard = Guard(cfg.max_grad_norm, world_size=fabric.world_size,
                           host_checks=cfg.precision == "16-mixed")  # the scaler sets found_inf itself
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
            random.setstate(python_rng_state(rng["python"]))
        self.start = int(state["step"])

    # -- state ----------------------------------------------------------------------------

    def weights(self) -> dict[str, torch.Tensor]:
        with self.plain_modules():  # a compiled part's keys would start with "_orig_mod."
            sd = dict(self.model.state_dict())
        if self.ema is not None:
            sd.update({f"ema.{k}": v for k, v in self.ema.module.state_dict().items()})
        return sd

    def state(self, step: int) -> dict:
        return {
            "step": step,
            "optimizers": {p: o.state_dict() for p, o in self.opts.items()},
            "rng": {"torch": torch.get_rng_state(), "python": python_rng_list(random.getstate())},
            "ema_n_averaged": int(self.ema.n_averaged) if self.ema is not None else 0,
        }

    def checkpoint(self, step: int) -> None:
        self.check_guard()  # a run about to stop on divergence saves nothing more
        if self.fabric.is_global_zero:
            save_checkpoint(self.run_dir, self.weights(), self.state(step), step, keep_last=self.cfg.keep_last)
        self.fabric.barrier()

    # -- the loop -------------------------------------------------------------------------

    def set_phase(self, phase: str) -> None:
        if not hasattr(self, "_part_params"):  # gathered once: module walks cost per step
            self._part_params = {a: list(self.originals[a].parameters()) for a in self.attrs}
        set_trainable(self.model, phase, self._part_params)

    def batch(self, k: int) -> dict:
        src, y = self.sources["x"], self.labels
        idx = src.indices(k)  # on the device when the set lives there, as are the labels then
        b = {"x": src.rows(idx), "y": None if y is None else y[idx].to(self.fabric.device, non_blocking=True)}
        if "x_b" in self.sources:
            b["x_b"] = self.sources["x_b"].batch(k)
        return b

    def fit(self) -> GenerativeModel:
        """Train from the first (or resumed) step to ``cfg.steps``, as the module docstring shows;
        returns the model in eval mode."""
        with self._session():
            model, cfg, fabric = self.model, self.cfg, self.fabric
            model.train()
            reps = model.repeats()
            per_step = sum(reps.values())
            logs, norms = {}, {}  # the last update's numbers of each phase, as tensors
            phase_params = {p: model.phase_parameters(p) for p in model.phases}
            for step in range(self.start, cfg.steps):
                self._set_lr(step)
                k = step * per_step
                logged = self.logs_at(step + 1)
                model.log_details, model.train_step = logged, step
                if logged:  # this step's numbers alone, in the model's order, then the gradient norms
                    logs, norms = {}, {}
                for phase in model.phases:
                    for _ in range(reps[phase]):
                        seed_noise(batch_seed(cfg.seed, k), fabric.device)
                        batch = self.batch(k)
                        k += 1
                        self.set_phase(phase)
                        with _inner_autograd_allowed(self.wrapped):
                            loss, out = model.loss(phase, batch)
                        opt = self.opts[phase]
                        opt.zero_grad(set_to_none=True)
                        fabric.backward(loss) if self.wrapped else loss.backward()
                        # every update: one Inf gradient would poison the weights for good
                        gn = _grad_norm(phase_params[phase])
                        self.guard.step(opt, step, phase, loss, gn)
                        if logged:
                            norms[f"grad_norm_{phase}"] = gn
                        logs.update(out)
                if self.ema is not None:
                    self.ema.update_parameters(self.originals[model.ema_part])
                if logged:
                    self.check_guard()
                self._call("on_step", step + 1, HostLogs({**logs, **norms} if logged else logs))
            self.check_guard()
            model.log_details = True
            self._check_skipped((cfg.steps - self.start) * per_step)
            with self.plain_modules():  # every rank alike (the same data, a seeded fit), no collectives
                src = self.sources["x"]
                model.after_training(src.rows, len(src.x))
            self._call("on_end", cfg.steps)
        model.eval()
        return model

    def logs_at(self, step: int) -> bool:
        """Whether the step that makes ``step`` steps done is logged: every ``log_every`` steps and
        the last. Only then are the logs and the guard read on the host."""
        return step % self.cfg.log_every == 0 or step == self.cfg.steps

    def check_guard(self) -> None:
        """The guard's verdict on the updates since the last check (one host read): skipped ones
        are counted, and ``nan_policy`` stops the run as it would have at the bad update itself."""
        for skipped, bad in self.guard.drain():
            if skipped:
                self.skipped += self._diverged(bad.step, bad.phase, bad.describe())
            else:
                self.bad_in_a_row = 0

    def _set_lr(self, step: int) -> None:
        factor = self.model.lr_factor(step, self.cfg.steps)
        if factor != 1.0 or step == self.start:
            for p, o in self.opts.items():
                for g, lr in zip(o.param_groups, self.base_lrs[p]):
                    g["lr"] = lr * factor

    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    @contextmanager
    def _session(self):
        """Around the loop: the callbacks' launch hook (signal handlers) before the processes start,
        the set-up, and whatever the end: plain modules handed back, callbacks closed, workers
        reaped; a collective that failed because another process went away becomes one clear error."""
        self._call("on_launch")
        grace, finished = 30.0, False
        try:
            self._setup()
            self._call("on_start")
            yield
            finished = True
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, workers included
            grace = 0.0
            raise
        except Exception as e:
            if self.cfg.compile and (error := compile_failure(e)) is not None:  # e.g. in a compiled backward
                raise error from None
            fabric = getattr(self, "fabric", None)  # None: the start itself failed
            if fabric is not None and fabric.world_size > 1 and is_peer_failure(e):
                raise PeerLost(
                    f"another process of this {fabric.world_size}-process run stopped "
                    f"({first_sentence(e)}); the last checkpoint in {self.run_dir} is kept; "
                    f"resume with --resume") from None
            raise
        finally:
            for a in getattr(self, "attrs", ()):  # hand back plain modules
                setattr(self.model, a, self.originals[a])
            # what the loop set on the model for its own use, undone however the loop ended: the
            # model a caller gets back draws its whole noise, logs everything, finds its own device
            self.model.train_device = None
            self.model.noise_rank, self.model.noise_world = 0, 1
            self.model.log_details, self.model.train_step = True, 0
            self._call("on_close")
            reap_workers(getattr(self, "fabric", None), grace)
            if finished:  # every rank got here: each closes its side of the group before the process ends
                end_process_group()

    def _check_skipped(self, updates: int) -> None:
        """Skipped updates are reported; a run that skipped most of them did not train."""
        if not self.skipped:
            return
        msg = f"nan_policy=skip skipped {self.skipped} of {updates} updates (non-finite loss or gradient)"
        if self.skipped * 2 > updates:
            raise TrainingDiverged(f"{msg}: training diverged; {self._kept()}; lower --lr")
        if self.fabric.is_global_zero:
            print(f"warning: {msg}", file=sys.stderr, flush=True)

    def _kept(self) -> str:
        """What a diverged run leaves: its last good checkpoint, or nothing."""
        if (self.run_dir / "state.pt").is_file():
            return f"the last good checkpoint in {self.run_dir} is kept"
        return "no checkpoint was saved yet, so the run leaves nothing behind"

    def _diverged(self, step: int, phase: str, what: str) -> int:
        self.bad_in_a_row += 1
        if self.cfg.nan_policy == "skip" and self.bad_in_a_row < MAX_BAD_IN_A_ROW:
            return 1
        kept = self._kept()
        if self.cfg.nan_policy == "skip":  # skipping cannot help when every batch is bad
            err = TrainingDiverged(
                f"{what} at step {step + 1}, phase {phase!r}, and the last {MAX_BAD_IN_A_ROW} "
                f"updates were all skipped: training diverged; {kept}; lower --lr")
        else:
            err = TrainingDiverged(
                f"{what} at step {step + 1}, phase {phase!r}: training diverged; {kept}; "
                f"lower --lr, or --set nan_policy=skip to skip bad batches")
        if not self.fabric.is_global_zero:  # every rank stops here (the verdict is agreed); rank 0 speaks,
            err.report, err.exit_code = False, 0  # and a worker ending non-zero would make the launcher cut it short
        raise err

    @contextmanager
    def plain_modules(self):
        """Work done on one rank only (figures, live scores) runs the unwrapped modules: a DDP
        wrapper's forward broadcasts BatchNorm buffers, a collective the other ranks never join."""
        attrs = getattr(self, "attrs", ())  # none before the set-up: the model holds its own modules
        wrapped = {a: getattr(self.model, a) for a in attrs}
        for a in attrs:
            setattr(self.model, a, self.originals[a])
        try:
            yield
        finally:
            for a, m in wrapped.items():
                setattr(self.model, a, m)


# ----------------------------------------------------------------------------- helpers


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
def _inner_autograd_allowed(wrapped: bool = True):
    """The gradient penalty calls torch.autograd.grad inside the loss; under mixed precision
    Fabric's guard would take that inner backward for a forgotten ``fabric.backward``."""
    if not wrapped:  # plain modules: no Fabric guard (and no Fabric import)
        yield
        return
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


def _grad_norm(params) -> torch.Tensor:
    """The global L2 norm of the gradients, a 0-dim tensor on their device (no host read)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros((), device=params[0].device if params else None)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))  # one fused kernel
