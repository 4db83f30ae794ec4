"""Run folders and checkpoints: atomic writes (``genlab.io``), safe loads.

Layout of a run folder::

    config.json          everything needed to rebuild the model (no dataset needed)
    model.safetensors    latest weights (+ ``ema.*`` weights); metadata holds the step
    state.pt             optimizers, step, RNG: tensors and primitives only (weights_only=True)
    checkpoints/step_N/  the same pair for the last K checkpoints
    metrics.csv, samples/

Every file is written to a temporary name, fsynced and renamed, so a crash at any moment
leaves either the old or the new file, never half of one. A checkpoint directory is complete
before it is renamed into place; the top-level pair is a copy of the newest one, and loading
falls back to ``checkpoints/`` when the pair disagrees (a crash between the two renames).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from genlab.errors import BadRunError
from genlab.io import DIR_MODE, atomic_write, atomic_write_text, fsync_dir

from genlab.runs import CKPT_DIR, CONFIG, FORMAT, METRICS_CSV, STATE, WEIGHTS, read_config, write_config  # noqa: F401

def _save_pair(folder: Path, weights: dict[str, torch.Tensor], state: dict, step: int) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
    atomic_write(folder / WEIGHTS, lambda tmp: save_file(tensors, tmp, metadata={"step": str(step)}))
    atomic_write(folder / STATE, lambda tmp: torch.save({**state, "step": step}, tmp))


def _discard(folder: Path) -> None:
    """Rename a checkpoint folder to a hidden name, then delete it: a crash half-way through the
    deletion leaves a hidden leftover (removed by the next save), never a step_N folder with
    some of its files gone."""
    trash = tempfile.mkdtemp(prefix=".step_trash_", dir=folder.parent)
    os.replace(folder, trash)  # POSIX: a folder may replace an empty folder
    shutil.rmtree(trash, ignore_errors=True)


def save_checkpoint(run_dir: Path, weights: dict[str, torch.Tensor], state: dict, step: int,
                    *, keep_last: int = 3) -> None:
    """Write checkpoints/step_N (complete before it appears), prune to ``keep_last``, update the top pair."""
    ckpts = run_dir / CKPT_DIR
    ckpts.mkdir(parents=True, exist_ok=True)
    final = ckpts / f"step_{step:09d}"
    tmp = Path(tempfile.mkdtemp(prefix=".step_", dir=ckpts))
    try:
        os.chmod(tmp, DIR_MODE)
        _save_pair(tmp, weights, state, step)
        if final.exists():  # the same step again (a run resumed from an older one)
            _discard(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(ckpts)
    for old in sorted(p for p in ckpts.glob("step_*") if p.is_dir())[:-keep_last]:
        _discard(old)
    for stale in ckpts.glob(".step_*"):  # left by a crash mid-write or mid-delete
        shutil.rmtree(stale, ignore_errors=True)
    _save_pair(run_dir, weights, state, step)
    for name in (CONFIG, WEIGHTS, STATE, METRICS_CSV):  # temporary files of writes a crash interrupted
        for stale in run_dir.glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], int]:
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            step = int((f.metadata() or {}).get("step", -1))
        return load_file(str(path)), step
    except FileNotFoundError:
        raise BadRunError(f"{str(path)!r} is missing") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise BadRunError(f"{str(path)!r} is damaged or not a safetensors file ({type(e).__name__})") from None


def saved_step(run_dir: Path) -> int | None:
    """The step of the run's top-level weights (read from the file's metadata only), or None."""
    try:
        from safetensors import safe_open

        with safe_open(str(Path(run_dir) / WEIGHTS), framework="pt") as f:
            return int((f.metadata() or {}).get("step", -1))
    except Exception:  # missing or damaged: no step to report
        return None


class UnsafeFileError(BadRunError):
    """A state file that carries pickled objects: refused outright, never a fallback."""


def load_state(path: Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)``: a file carrying pickled code is refused, never run."""
    if not path.is_file():
        raise BadRunError(f"{str(path)!r} is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError for payloads, RuntimeError/EOFError for damage
        # Every weights_only failure mentions "weights_only", damage included; a payload is the
        # one that names a global (a class or function) the safe unpickler refused to import.
        if "Unsupported global" in str(e):
            raise UnsafeFileError(f"{str(path)!r} holds objects other than tensors and primitives; "
                                  "refused without running it (genlab writes tensors and primitives only)") from None
        raise BadRunError(f"{str(path)!r} is damaged ({type(e).__name__})") from None
    if not isinstance(state, dict) or "step" not in state:
        raise BadRunError(f"{str(path)!r} is not a genlab training state")
    return state


def candidates(run_dir: Path) -> list[Path]:
    """Folders that may hold a weights/state pair, newest first: the run folder, then checkpoints/."""
    ckpts = sorted((p for p in (run_dir / CKPT_DIR).glob("step_*") if p.is_dir()), reverse=True)
    return [run_dir, *ckpts]


def load_latest(run_dir: Path, *, need_state: bool = True) -> tuple[dict[str, torch.Tensor], dict | None, int]:
    """The newest consistent checkpoint: weights, state (if asked) and step."""
    errors = []
    for folder in candidates(run_dir):
        try:
            weights, step = load_weights(folder / WEIGHTS)
            state = load_state(folder / STATE) if need_state else None
        except UnsafeFileError:
            raise
        except BadRunError as e:
            errors.append(str(e))
            continue
        if state is not None and state["step"] != step:
            errors.append(f"{folder}: weights at step {step} but state at step {state['step']}")
            continue
        if errors:  # a fallback is said, never silent
            print(f"note: {errors[0]}; using {str(folder)!r} (step {step}) instead", file=sys.stderr, flush=True)
        return weights, state, step
    raise BadRunError(errors[0] if errors else f"{str(run_dir)!r} holds no checkpoint")


def python_rng_list(state) -> list:
    """``random.getstate()`` as nested lists: a checkpoint stores primitives only (weights_only loads)."""
    return [python_rng_list(v) for v in state] if isinstance(state, tuple) else state


def python_rng_state(saved):
    """The inverse of :func:`python_rng_list`, for ``random.setstate``."""
    return tuple(python_rng_state(v) for v in saved) if isinstance(saved, list) else saved
