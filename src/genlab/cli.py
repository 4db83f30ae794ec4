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
                  help="Train, evaluate, compare and sample classic generative models (AE, VAE, GAN, LSGAN, WGAN-GP, "
                       "cGAN, CVAE, CycleGAN).")

SAMPLE_EXTS = (".png", ".npy", ".csv")


_argv: list[str] | None = None  # the arguments main() was given (sys.argv[1:] when run as a command)


def _command_line() -> str:
    args = sys.argv[1:] if _argv is None else _argv
    return "genlab " + " ".join(shlex.quote(a) for a in args if a not in ("--resume", "--overwrite"))


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"  # a user-facing notice, not a pointer into genlab's source


# the refinement settings, shared by sample, eval and compare
REFINE_STEPS = typer.Option(None, "--refine-steps", help="dot: gradient steps per sample [100]")
REFINE_LR = typer.Option(None, "--refine-lr", help="dot: step size in the critic's input units "
                         "(vectors: the data's std) [0.01]")
REFINE_K_SCALE = typer.Option(None, "--refine-k-scale", help="dot: K = this x the critic's estimated "
                              "Lipschitz constant; 1 = the paper's [0.25]")
REFINE_SPACE = typer.Option(None, "--refine-space", help="dot: where samples move: latent (the generator's "
                            "noise) | data | auto (latent for images, data for vectors) [auto]")
REFINE_PERCENTILE = typer.Option(None, "--refine-percentile", help="drs: γ at this percentile of F in each batch [95]")
REFINE_HELP = ("critic-guided sampling: none | dot (Discriminator Optimal Transport) | drs (Discriminator "
               "Rejection Sampling); for models with a critic: gan, lsgan, wgan-gp, cgan")


# which weights a command that reads a run uses: sample, eval, interpolate, translate, report
EMA = typer.Option(None, "--ema/--no-ema", help="use the EMA weights (--ema: an error if the run has none) "
                   "or the last training weights (--no-ema) [EMA when the run has them]")


def _refinements(methods: list[str], steps: Optional[int], lr: Optional[float], k_scale: Optional[float],
                 percentile: Optional[float], space: Optional[str] = None):
    """--refine and its settings -> one Refinement (or None) per method; a setting that no listed
    method uses is an error rather than silently ignored."""
    from genlab.refine import refinement

    if "dot" not in methods and (steps, lr, k_scale, space) != (None, None, None, None):
        raise BadInputError("--refine-steps, --refine-lr, --refine-k-scale and --refine-space are settings of "
                            "--refine dot")
    if "drs" not in methods and percentile is not None:
        raise BadInputError("--refine-percentile is a setting of --refine drs")
    dot_only = {"steps": steps, "lr": lr, "k_scale": k_scale, "space": space}
    return [refinement(m, percentile=percentile, **(dot_only if m == "dot" else {})) for m in methods]


def _refinement(method: str, steps: Optional[int], lr: Optional[float], k_scale: Optional[float],
                percentile: Optional[float], space: Optional[str] = None):
    from genlab.refine import parse_methods

    if "," in method:
        raise BadInputError("--refine takes one method here; 'genlab compare' takes a list")
    return _refinements(parse_methods(method), steps, lr, k_scale, percentile, space)[0]


@app.command()
def train(
    model: str = typer.Argument(..., help="model name (see 'genlab models')"),
    data: str = typer.Option(..., "--data", help="dataset spec (see 'genlab datasets'), e.g. grid25, folder:PATH"),
    out: Path = typer.Option(..., "--out", help="run folder to create (or continue with --resume)"),
    steps: Optional[int] = typer.Option(None, "--steps", help="generator/model updates [the recipe's for the "
                                        "model and data, see 'genlab models --recipes'; else 2000]"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="global batch size [the recipe's; else 64]"),
    lr: Optional[float] = typer.Option(None, "--lr", help="learning rate [model default]"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed [0]"),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="resize images to this size [native]"),
    root: Optional[str] = typer.Option(None, "--root", help="folder of torchvision datasets"),
    download: bool = typer.Option(False, "--download", help="allow torchvision to download the dataset"),
    cache_dir: Optional[str] = typer.Option(None, "--cache-dir",
                                            help="where image folders are cached once decoded "
                                                 "[$GENLAB_CACHE or ~/.cache/genlab/cache]"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of settings"),
    set_: list[str] = typer.Option([], "--set", help="override a setting: key=value (repeatable)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace the run in --out"),
    accelerator: Optional[str] = typer.Option(None, "--accelerator", help="auto|cpu|cuda"),
    devices: Optional[int] = typer.Option(None, "--devices", help="number of devices (DDP when > 1)"),
    num_nodes: Optional[int] = typer.Option(None, "--num-nodes",
                                            help="machines of a multi-node run, started by torchrun or SLURM [1]"),
    precision: Optional[str] = typer.Option(None, "--precision", help="32-true|bf16-mixed|16-mixed"),
    compile_: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the networks"),
    channels_last: Optional[bool] = typer.Option(None, "--channels-last/--no-channels-last",
                                                 help="conv nets in channels-last memory format"),
    ema: Optional[bool] = typer.Option(None, "--ema/--no-ema", help="keep an EMA of the generator [on in the "
                                       "image GANs' recipes]"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress output"),
    logger: Optional[str] = typer.Option(None, "--logger",
                                         help="csv (metrics.csv, default) or tensorboard (also RUN/tensorboard)"),
):
    """Train MODEL on --data into the run folder --out."""
    from genlab.api import global_rank
    from genlab.api import train as run_train

    run_train(model, data, out=out, steps=steps, batch_size=batch_size, lr=lr, seed=seed, config=config,
              overrides=list(set_), resume=resume, overwrite=overwrite, quiet=quiet, command=_command_line(),
              image_size=image_size, root=root, download=download or None, cache_dir=cache_dir,
              accelerator=accelerator, devices=devices, num_nodes=num_nodes, precision=precision,
              compile=compile_, channels_last=channels_last, ema=ema, logger=logger)
    if global_rank() == 0:  # the other processes of a data-parallel run re-run this command
        typer.echo(f"run written to {out}")


@app.command()
def sample(
    run: Path = typer.Argument(..., help="run folder written by 'genlab train'"),
    n: int = typer.Option(64, "--n", help="number of samples"),
    out: Path = typer.Option(..., "--out", help="FILE.png (grid or scatter), .npy or .csv (vectors)"),
    seed: int = typer.Option(0, "--seed", help="random seed"),
    ema: Optional[bool] = EMA,
    class_: Optional[int] = typer.Option(None, "--class", help="class label (conditional models)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace --out if it exists (never a run's own files)"),
    refine: str = typer.Option("none", "--refine", help=REFINE_HELP),
    refine_steps: Optional[int] = REFINE_STEPS,
    refine_lr: Optional[float] = REFINE_LR,
    refine_k_scale: Optional[float] = REFINE_K_SCALE,
    refine_space: Optional[str] = REFINE_SPACE,
    refine_percentile: Optional[float] = REFINE_PERCENTILE,
):
    """Draw N samples from a trained run (no dataset needed)."""
    spec = _refinement(refine, refine_steps, refine_lr, refine_k_scale, refine_percentile, refine_space)
    if n <= 0:
        raise BadInputError(f"--n must be a positive integer, got {n}")
    if out.suffix.lower() not in SAMPLE_EXTS:
        raise BadInputError(f"--out must end in {', '.join(SAMPLE_EXTS)}, got {str(out)!r}")
    from genlab.runs import check_run_output

    check_run_output(out, run, overwrite=overwrite)
    from genlab.sampling import write_samples

    record = write_samples(run, n=n, out=out, seed=seed, ema=ema, label=class_, refine=spec)
    if record is not None:
        from genlab.evaluation import describe_refinement

        typer.echo(describe_refinement(record))
    typer.echo(f"wrote {n} sample{'s' * (n != 1)} to {out}")


@app.command()
def models(
    recipes: bool = typer.Option(False, "--recipes", help="also each model's recipe (its defaults) per kind of "
                                 "data and per dataset"),
):
    """List the models (with --recipes: the settings each one trains with when no flag says otherwise)."""
    from genlab.config import FP32
    from genlab.models import MODELS

    for name, cls in MODELS.items():
        typer.echo(f"{name:<10} {cls.help}")
        if recipes:
            for where, preset in cls.presets.items():
                preset = dict(preset)
                fp32 = preset.pop(FP32, None)
                shown = " ".join(f"{k}={v}" for k, v in sorted(preset.items()))
                typer.echo(f"  {'on ' + where + ':':<18} {shown}")
                if fp32:
                    shown = " ".join(f"{k}={v}" for k, v in sorted(fp32.items()))
                    typer.echo(f"  {'':<18} where bf16 does not run (not native, or another --precision): {shown}")
            if not cls.presets:
                typer.echo(f"  {'everywhere:':<18} the defaults of 'genlab train --help' and --set")


@app.command()
def datasets():
    """List the datasets."""
    from genlab.data import DATASETS

    for name, spec in DATASETS.items():
        shown = f"{name}:{spec.arg}" if spec.takes_arg else name
        typer.echo(f"{shown:<21} {spec.help}")


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="folder for the demo runs and summary"),
    quick: bool = typer.Option(False, "--quick", help="tiny budgets (a smoke test, seconds)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace files in --out that an earlier demo did "
                                                              "not write (summary.md, report.html, runs)"),
):
    """Train every family on grid25 and mnist5k with small budgets; write figures and a summary."""
    from genlab.demo import run_demo

    summary = run_demo(out, quick=quick, overwrite=overwrite)
    typer.echo(f"demo results: {summary}")


@app.command()
def translate(
    run: Path = typer.Argument(..., help="run folder of a translation model (cyclegan)"),
    source: Path = typer.Argument(..., help="an image file, or a folder of images (searched recursively)"),
    direction: str = typer.Option("a2b", "--direction", help="a2b (domain A to B) or b2a"),
    out: Path = typer.Option(..., "--out", help="folder for the results: same names and formats, at the "
                                                "model's image size; existing files are never replaced"),
    ema: Optional[bool] = EMA,
):
    """Translate images with a trained CycleGAN run, keeping their file names."""
    from genlab.translate import translate_path

    written = translate_path(run, source, out=out, direction=direction, ema=ema)
    typer.echo(f"wrote {len(written)} image{'s' * (len(written) != 1)} to {out}")


@app.command()
def report(
    path: Path = typer.Argument(..., help="a run folder, or a folder of runs (demo, comparison)"),
    out: Path = typer.Option(Path("report.html"), "--out", help="the HTML file to write"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace --out even if it is not a genlab report"),
    no_interpolation: bool = typer.Option(False, "--no-interpolation", help="skip the latent interpolation figures"),
    ema: Optional[bool] = EMA,
):
    """Write one self-contained HTML page: config, losses, health, samples, scores, interpolations."""
    from genlab.report.html import write_report

    written = write_report(path, out, overwrite=overwrite, interpolations=not no_interpolation, ema=ema)
    typer.echo(f"report written to {written}")


@app.command()
def interpolate(
    run: Path = typer.Argument(..., help="run folder written by 'genlab train'"),
    out: Path = typer.Option(..., "--out", help="strip.png (still) or anim.gif (animation)"),
    steps: int = typer.Option(10, "--steps", help="frames per pair of seeds (the grid side for --grid)"),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="comma-separated seeds, e.g. 0,1,2 [two random]"),
    method: str = typer.Option("slerp", "--method", help="slerp (spherical, for Gaussian codes) or lerp"),
    grid: Optional[bool] = typer.Option(None, "--grid/--no-grid",
                                        help="decoded manifold of a 2-D latent [on when latent_dim=2 on images]"),
    ema: Optional[bool] = EMA,
    overwrite: bool = typer.Option(False, "--overwrite", help="replace --out if it exists (never a run's own files)"),
):
    """Interpolate between the latent codes of seeds and decode the path (images: strip or GIF; 2-D: the path)."""
    from genlab.interpolate import interpolate as run_interpolate, parse_seeds

    used = run_interpolate(run, out, steps=steps, seeds=parse_seeds(seeds), method=method, grid=grid, ema=ema,
                           overwrite=overwrite)
    typer.echo(f"wrote {out} (seeds {','.join(map(str, used))})" if used else
               f"wrote {out} (the decoded manifold, {steps}x{steps})")


@app.command("eval")
def eval_(
    run: Path = typer.Argument(..., help="run folder written by 'genlab train'"),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="comma-separated metric names [the defaults "
                                          "for the run's data and model]; e.g. fd,kid,nll"),
    n: Optional[int] = typer.Option(None, "--n", help="generated samples [2500 vectors, 1000 images]"),
    seed: int = typer.Option(0, "--seed", help="random seed of the samples"),
    k: int = typer.Option(100, "--k", help="importance samples for nll/bpd (published figures use 5000)"),
    features: str = typer.Option("auto", "--features", help="auto (shipped classifier) | digits_cls | "
                                 "mnist5k_cls | shapes_cls | inception"),
    weights: Optional[Path] = typer.Option(None, "--weights", help="local Inception-v3 weights for --features inception"),
    ema: Optional[bool] = EMA,
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the scores to this JSON file (the "
                                            "document the run keeps in RUN/eval.json), outside the run"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace --json if it exists (never a run's own files)"),
    refine: str = typer.Option("none", "--refine", help=REFINE_HELP + "; scores kept in RUN/eval+METHOD.json"),
    refine_steps: Optional[int] = REFINE_STEPS,
    refine_lr: Optional[float] = REFINE_LR,
    refine_k_scale: Optional[float] = REFINE_K_SCALE,
    refine_space: Optional[str] = REFINE_SPACE,
    refine_percentile: Optional[float] = REFINE_PERCENTILE,
):
    """Score a trained run (mode coverage, FD/KID/PR/DC, likelihood, reconstruction...)."""
    from genlab.evaluation import evaluate, print_scores, save_eval
    from genlab.io import atomic_write_text
    from genlab.runs import check_run_output

    spec = _refinement(refine, refine_steps, refine_lr, refine_k_scale, refine_percentile, refine_space)
    if json_out is not None:
        check_run_output(json_out, run, overwrite=overwrite, flag="--json")
    scores = evaluate(run, metrics=metrics, n=n, seed=seed, k=k, features=features, weights=weights, ema=ema,
                      refine=spec)
    print_scores(scores)
    text = save_eval(run, scores, metrics=metrics, n=n, seed=seed, k=k, features=features, weights=weights,
                     refine=spec)
    if json_out is not None:
        atomic_write_text(json_out, text)
        typer.echo(f"scores written to {json_out}")


@app.command()
def compare(
    models: list[str] = typer.Argument(..., help="models, e.g. gan:minimax gan lsgan wgan-gp vae:k=5"),
    data: str = typer.Option(..., "--data", help="dataset spec (see 'genlab datasets')"),
    out: Path = typer.Option(..., "--out", help="folder for the runs, leaderboard and figures (reused if present)"),
    seeds: int = typer.Option(3, "--seeds", help="seeds per model (0..K-1)"),
    steps: Optional[int] = typer.Option(None, "--steps", help="training steps per run [model default]"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="batch size [64]"),
    set_: list[str] = typer.Option([], "--set", help="setting for every model: key=value (repeatable)"),
    n: Optional[int] = typer.Option(None, "--n", help="samples per evaluation [2500 vectors, 1000 images]"),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="comma-separated metric names [defaults]"),
    k: int = typer.Option(100, "--k", help="importance samples for nll/bpd"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML preset of settings for every run"),
    refine: str = typer.Option("none", "--refine", help="comma-separated critic-guided samplings to score, each "
                               "a row (gan, gan+dot): none | dot | drs, e.g. none,dot"),
    refine_steps: Optional[int] = REFINE_STEPS,
    refine_lr: Optional[float] = REFINE_LR,
    refine_k_scale: Optional[float] = REFINE_K_SCALE,
    refine_space: Optional[str] = REFINE_SPACE,
    refine_percentile: Optional[float] = REFINE_PERCENTILE,
):
    """Train MODELS x seeds on --data, score every run, write leaderboard.{md,csv,json} and figures."""
    from genlab.comparison import compare as run_compare
    from genlab.refine import parse_methods

    specs = _refinements(parse_methods(refine), refine_steps, refine_lr, refine_k_scale, refine_percentile,
                         refine_space)
    run_compare(models, data=data, seeds=seeds, steps=steps, out=out, overrides=list(set_), n=n, metrics=metrics,
                batch_size=batch_size, k=k, config=config, refine=specs, log=lambda line: typer.echo(line, err=True))
    typer.echo((out / "leaderboard.md").read_text())


def _interrupt_between_imports(signum, frame) -> None:
    """Ctrl-C as a KeyboardInterrupt, but never inside a module's import: a library interrupted
    half-way through its import stays broken for the rest of the process (and may swallow the
    interrupt). Inside one, the signal is sent again a moment later, until it lands outside."""
    import os
    import threading

    f = frame
    while f is not None:
        if f.f_code.co_filename.startswith("<frozen importlib"):
            threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
            return
        f = f.f_back
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    global _argv
    import signal
    import warnings

    args = _argv = list(sys.argv[1:] if argv is None else argv)
    if argv is None:  # the real command; a caller of main([...]) keeps its own warning format
        warnings.formatwarning = _one_line_warning
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where the shell ignores it
            signal.signal(signal.SIGINT, _interrupt_between_imports)
    try:
        code = app(args=args, prog_name="genlab", standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:  # outside a command (typer turns one inside a command into exit code 130)
        code = 130
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
        if getattr(e, "report", True):  # a data-parallel worker leaves the message to rank 0
            print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    if code == 130:  # Ctrl-C wherever it landed: loading, building, scoring (training says more itself)
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
