"""The ``genlab`` command line (typer). Torch is imported inside commands, never at top level,
so ``genlab --help`` answers instantly. User errors print one line and exit with code 2."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

try:  # typer >= 0.20 vendors click; older releases depend on it
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as cx

from genlab.errors import BadInputError, GenlabError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Train, evaluate, compare and sample classic generative models (AE, VAE, GAN, LSGAN, WGAN-GP).")

SAMPLE_EXTS = (".png", ".npy", ".csv")


def _command_line() -> str:
    return "genlab " + " ".join(shlex.quote(a) for a in sys.argv[1:] if a not in ("--resume", "--overwrite"))


@app.command()
def train(
    model: str = typer.Argument(..., help="model name (see 'genlab models')"),
    data: str = typer.Option(..., "--data", help="dataset spec (see 'genlab datasets'), e.g. grid25, folder:PATH"),
    out: Path = typer.Option(..., "--out", help="run folder to create (or continue with --resume)"),
    steps: Optional[int] = typer.Option(None, "--steps", help="generator/model updates [2000]"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="global batch size [64]"),
    lr: Optional[float] = typer.Option(None, "--lr", help="learning rate [model default]"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed [0]"),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="resize images to this size [native]"),
    root: Optional[str] = typer.Option(None, "--root", help="folder of torchvision datasets"),
    download: bool = typer.Option(False, "--download", help="allow torchvision to download the dataset"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of settings"),
    set_: list[str] = typer.Option([], "--set", help="override a setting: key=value (repeatable)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace the run in --out"),
    accelerator: Optional[str] = typer.Option(None, "--accelerator", help="auto|cpu|cuda"),
    devices: Optional[int] = typer.Option(None, "--devices", help="number of devices (DDP when > 1)"),
    precision: Optional[str] = typer.Option(None, "--precision", help="32-true|bf16-mixed|16-mixed"),
    ema: Optional[bool] = typer.Option(None, "--ema/--no-ema", help="keep an EMA of the generator"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress output"),
):
    """Train MODEL on --data into the run folder --out."""
    from genlab.api import train as run_train

    run_train(model, data, out=out, steps=steps, batch_size=batch_size, lr=lr, seed=seed, config=config,
              overrides=list(set_), resume=resume, overwrite=overwrite, quiet=quiet, command=_command_line(),
              image_size=image_size, root=root, download=download or None, accelerator=accelerator,
              devices=devices, precision=precision, ema=ema)
    typer.echo(f"run written to {out}")


@app.command()
def sample(
    run: Path = typer.Argument(..., help="run folder written by 'genlab train'"),
    n: int = typer.Option(64, "--n", help="number of samples"),
    out: Path = typer.Option(..., "--out", help="FILE.png (grid or scatter), .npy or .csv (vectors)"),
    seed: int = typer.Option(0, "--seed", help="random seed"),
    ema: bool = typer.Option(False, "--ema", help="use the EMA weights"),
    class_: Optional[int] = typer.Option(None, "--class", help="class label (conditional models)"),
):
    """Draw N samples from a trained run (no dataset needed)."""
    if n <= 0:
        raise BadInputError(f"--n must be a positive integer, got {n}")
    if out.suffix.lower() not in SAMPLE_EXTS:
        raise BadInputError(f"--out must end in {', '.join(SAMPLE_EXTS)}, got {str(out)!r}")
    from genlab.sampling import write_samples

    write_samples(run, n=n, out=out, seed=seed, ema=ema, label=class_)
    typer.echo(f"wrote {n} samples to {out}")


@app.command()
def models():
    """List the models."""
    from genlab.models import MODELS

    for name, cls in MODELS.items():
        typer.echo(f"{name:<10} {cls.help}")


@app.command()
def datasets():
    """List the datasets."""
    from genlab.data import DATASETS

    for name, spec in DATASETS.items():
        shown = f"{name}:PATH" if spec.takes_arg else name
        typer.echo(f"{shown:<14} {spec.help}")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="folder for the demo runs and summary"),
    quick: bool = typer.Option(False, "--quick", help="tiny budgets (a smoke test, seconds)"),
):
    """Train every family on grid25 and mnist5k with small budgets; write figures and a summary."""
    from genlab.demo import run_demo

    summary = run_demo(out, quick=quick)
    typer.echo(f"demo results: {summary}")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="genlab", standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except cx.UsageError as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `genlab`: the help is the answer
            print(e.format_message())
            sys.exit(0)
        cmd = f"genlab {e.ctx.info_name} --help" if e.ctx and e.ctx.info_name != "genlab" else "genlab --help"
        print(f"error: {e.format_message()} (see '{cmd}')", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(130)
    except GenlabError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    sys.exit(0)
