"""Every command the README shows runs and exits 0.

README.md's fenced shell blocks (```bash, ```sh, ```shell, ```console) and Python blocks are
parsed; each ``genlab ...`` line and each Python block becomes one test, named by its README
line. Commands run in README order, one working folder per block, so that ``runs/...`` written
by an earlier command is there for a later one. What changes from the README text:

- budgets shrink: ``--steps N`` on ``train`` / ``compare`` becomes ``max(2, N // 500)`` (so
  ``--resume`` with a larger ``--steps`` still continues a run), ``--steps 2`` where none is
  given, and ``--batch-size 8``; ``eval`` / ``compare`` score ``--n 200`` samples with ``--k 10``
  importance samples; ``steps=N`` in Python shrinks like ``--steps``;
- ``~`` is a folder inside the working folder, and inputs the README assumes the reader has
  (``folder:PATH``, ``unpaired:A,B``, the source of ``translate``, ``points:PATH``) are made
  there as small random images (or points) when missing;
- a ``--download`` command whose torchvision files are not under its ``--root`` would need the
  network: it is skipped with the reason, after checking that the CLI accepts its options;
- a genlab command started by a multi-machine launcher (``torchrun ... -m genlab ...``,
  ``srun genlab ...``; LAUNCHERS) needs several machines: it is skipped with the reason, after
  checking that the CLI accepts its options (tests/test_multinode.py runs two torchrun nodes);
- lines that are not genlab commands (``make``, ``pip``, ...) are skipped by name (NOT_GENLAB);
  any other line fails, so a new kind of README line is classified, not silently ignored.

Commands run in this process (``genlab.cli.main``, the function behind the ``genlab`` script);
those with ``--devices`` above 1 run as a subprocess, as data-parallel workers re-run the
command line. Those are marked slow (two processes start on two cores; test_ddp.py runs the
same README command in the fast suite); the rest of the file takes about a minute on 2 cores.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from helpers import run_main, write_images, write_unpaired

README = ROOT / "README.md"
SHELL = {"bash", "sh", "shell", "console"}
PYTHON = {"python", "py", "pycon"}

# first words of a README shell line that is not a genlab command -> why it is not run here
NOT_GENLAB = {
    "make": "a Makefile target (it creates .venv, runs the full demo or the whole suite)",
    "pip": "installs packages",
    "python -m pip": "installs packages",
    "nohup": "starts a long run in the background",
}
# launchers that start a genlab command on several machines -> why it is not run here
LAUNCHERS = {
    "torchrun": "torchrun on several machines (tests/test_multinode.py runs two torchrun nodes on one machine)",
    "srun": "srun inside a SLURM job on several machines",
}
TRAINS = ("train", "compare")  # the commands whose --steps and --batch-size are a training budget
DEFAULT_STEPS = 2  # where the README gives none
BATCH = 8  # divides into PacGAN packs of 2 or 4 and over 2 devices
EVALS = ("eval", "compare")  # the commands whose --n (samples) and --k (importance samples) are a budget
EVAL_N, EVAL_K = 200, 10


def shrink(n: int) -> int:
    return max(2, n // 500)


@dataclass
class Step:
    """One README line (or Python block) and how it runs."""

    block: int  # index of its fenced block: one working folder per block
    line: int  # line in README.md
    text: str  # as the README shows it
    kind: str  # "genlab" | "python" | "launched" | "skip" | "unknown"
    argv: list[str] = field(default_factory=list)  # genlab's arguments after the substitutions
    code: str = ""  # Python source after the substitutions
    notes: list[str] = field(default_factory=list)  # the substitutions, for the test's output
    reason: str = ""  # why a "skip" step is not run

    @property
    def id(self) -> str:
        return f"L{self.line}: {self.text if len(self.text) < 90 else self.text[:87] + '...'}"


# ----------------------------------------------------------------------------- parsing


def fenced_blocks(text: str) -> list[tuple[str, list[tuple[int, str]]]]:
    """(language, [(line number, line)]) for each ``` fenced block."""
    blocks, current, lang = [], None, ""
    for number, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"^\s*```\s*([\w+-]*)", line)
        if fence and current is None:
            lang, current = fence.group(1).lower(), []
        elif fence:
            blocks.append((lang, current))
            current = None
        elif current is not None:
            current.append((number, line))
    return blocks


def shell_lines(lines: list[tuple[int, str]], console: bool) -> list[tuple[int, str]]:
    """Logical command lines: backslash continuations joined; in ``console`` blocks only ``$ `` lines."""
    out, pending, start = [], "", 0
    for number, line in lines:
        if not pending:
            if console:
                if not line.lstrip().startswith("$ "):
                    continue  # program output
                line = line.lstrip()[2:]
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append((start, pending + line))
        pending = ""
    return [(n, s.strip()) for n, s in out if s.strip() and not s.strip().startswith("#")]


def _budget(argv: list[str], notes: list[str], name: str, small, default: int) -> list[str]:
    """``name N`` -> ``name small(N)``; ``name default`` added where the command gives none."""
    for i, a in enumerate(argv):
        value = argv[i + 1] if a == name and i + 1 < len(argv) else a.split("=", 1)[1] if a.startswith(name + "=") \
            else None
        if value is not None:
            if not value.isdigit():
                return argv  # left for the CLI to judge
            n = small(int(value))
            if n != int(value):
                notes.append(f"{name} {value} -> {n}")
            return argv[:i] + [name, str(n)] + argv[i + (2 if a == name else 1):]
    notes.append(f"{name} {default} added")
    return argv + [name, str(default)]


def shrink_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """Tiny budgets for genlab's arguments; returns (argv, notes)."""
    argv, notes = list(argv), []
    if argv[:1] and argv[0] in TRAINS:
        argv = _budget(argv, notes, "--steps", shrink, DEFAULT_STEPS)
        argv = _budget(argv, notes, "--batch-size", lambda b: min(b, BATCH), BATCH)
    if argv[:1] and argv[0] in EVALS:
        argv = _budget(argv, notes, "--n", lambda n: min(n, EVAL_N), EVAL_N)
        argv = _budget(argv, notes, "--k", lambda k: min(k, EVAL_K), EVAL_K)
    return argv, notes


def shrink_python(code: str) -> tuple[str, list[str]]:
    notes = []

    def sub(m):
        n = shrink(int(m.group(2)))
        notes.append(f"steps={m.group(2)} -> {n}")
        return f"{m.group(1)}{n}"

    return re.sub(r"(\bsteps\s*=\s*)(\d+)", sub, code), notes


def launched_args(words: list[str]) -> list[str] | None:
    """genlab's arguments in a launcher's line (``torchrun ... -m genlab ARGS``, ``srun genlab
    ARGS``), or None when it starts no genlab command."""
    for i, w in enumerate(words):
        if words[i:i + 2] == ["-m", "genlab"]:
            return words[i + 2:]
        if w == "genlab":
            return words[i + 1:]
    return None


def parse_readme(text: str) -> list[Step]:
    steps = []
    for b, (lang, lines) in enumerate(fenced_blocks(text)):
        if lang in PYTHON:
            code, notes = shrink_python("\n".join(line for _, line in lines))
            first = next((s for _, s in lines if s.strip() and not s.startswith(("import", "#"))), "")
            steps.append(Step(b, lines[0][0] if lines else 0, f"python: {first.strip()}", "python", code=code,
                              notes=notes))
            continue
        if lang not in SHELL:
            continue  # plain ``` blocks: trees and diagrams
        for number, line in shell_lines(lines, console=lang == "console"):
            try:
                words = shlex.split(line, comments=True)
            except ValueError as e:
                steps.append(Step(b, number, line, "unknown", reason=f"cannot split it as a shell line: {e}"))
                continue
            shown = shlex.join(words)
            if words[:1] == ["genlab"] or words[:3] == ["python", "-m", "genlab"]:
                args = words[1:] if words[0] == "genlab" else words[3:]
                argv, notes = shrink_argv(args)
                steps.append(Step(b, number, shown, "genlab", argv=argv, notes=notes))
            elif words[:2] == ["python", "-c"] and len(words) >= 3:
                code, notes = shrink_python(words[2])
                steps.append(Step(b, number, shown, "python", code=code, notes=notes))
            elif words[0] in LAUNCHERS and (args := launched_args(words)) is not None:
                steps.append(Step(b, number, shown, "launched", argv=args,
                                  reason=f"needs several machines: {LAUNCHERS[words[0]]}"))
            elif (key := next((k for k in NOT_GENLAB if words[:len(k.split())] == k.split()), None)):
                steps.append(Step(b, number, shown, "skip", reason=f"not a genlab command: {NOT_GENLAB[key]}"))
            else:
                steps.append(Step(b, number, shown, "unknown",
                                  reason=f"{words[0]!r} is neither a genlab command nor in NOT_GENLAB"))
    return steps


# ----------------------------------------------------------------------------- running


def option_error(argv: list[str]) -> str | None:
    """What the CLI says about these arguments before running anything (None: accepted)."""
    from typer.main import get_command

    from genlab.cli import app

    group = get_command(app)
    ctx = group.context_class(group, info_name="genlab")
    command = group.get_command(ctx, argv[0]) if argv else None
    if command is None:
        return f"no such command: {argv[:1]}"
    try:
        command.make_context(argv[0], list(argv[1:]), parent=ctx)
    except Exception as e:  # click's UsageError family
        return e.format_message() if hasattr(e, "format_message") else str(e)
    return None


@contextlib.contextmanager
def inside(folder: Path):
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def expand_home(argv: list[str], home: Path) -> list[str]:
    """``~`` at the start of a word or of a ``spec:`` / comma-separated path -> ``home``."""
    return [re.sub(r"(^|[:,])~(?=/|$)", lambda m: m.group(1) + str(home), a) for a in argv]


def option(argv: list[str], name: str) -> str | None:
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def processes(argv: list[str]) -> int:
    devices = option(argv, "--devices")
    return int(devices) if devices and devices.isdigit() else 1


def make_inputs(argv: list[str], cwd: Path) -> list[str]:
    """Create the files a README command expects the reader to have; returns what was made."""
    made = []
    data = option(argv, "--data") or ""
    kind, _, arg = data.partition(":")
    if kind == "folder" and arg and not (cwd / arg).exists():
        write_images(cwd / arg, 2 * BATCH, (20, 24))
        made.append(f"{arg}: {2 * BATCH} random images")
    if kind == "points" and arg and not (cwd / arg).exists():
        (cwd / arg).parent.mkdir(parents=True, exist_ok=True)
        np.savetxt(cwd / arg, np.random.default_rng(0).normal(size=(256, 2)), delimiter=",")
        made.append(f"{arg}: 256 random 2-D points")
    if kind == "unpaired" and "," in arg:
        a, b = arg.split(",", 1)
        if not (cwd / a).exists() and not (cwd / b).exists():
            write_unpaired(cwd / a, cwd / b, n_a=2 * BATCH, n_b=2 * BATCH)
            made.append(f"{a}, {b}: {2 * BATCH} random images each")
    if argv[:1] == ["translate"] and len(argv) > 2 and not argv[2].startswith("-") and not (cwd / argv[2]).exists():
        write_images(cwd / argv[2], 3, (20, 24))
        made.append(f"{argv[2]}: 3 random images")
    return made


def needs_network(argv: list[str]) -> str | None:
    """Why a ``--download`` command would reach the network (its files are not under --root), or None."""
    if "--download" not in argv:
        return None
    from genlab.data import load_data
    from genlab.errors import GenlabError

    try:
        load_data(option(argv, "--data"), root=option(argv, "--root"), download=False)
    except GenlabError as e:
        return f"needs the network to download its data ({e})"
    return None


@dataclass
class Result:
    code: int
    output: str
    skipped: str = ""  # why it did not run
    made: list[str] = field(default_factory=list)  # the inputs made for it


class ReadmeRunner:
    """Runs README steps in README order, one working folder per block (earlier steps of the
    block first, once each), so a step asked for alone still finds what the ones before it made."""

    def __init__(self, steps: list[Step], top: Path):
        self.steps, self.top, self.results = steps, top, {}

    def folder(self, block: int) -> Path:
        cwd = self.top / f"block{block}"
        (cwd / "home").mkdir(parents=True, exist_ok=True)  # the reader's ~
        return cwd

    def result(self, step: Step) -> Result:
        for earlier in self.steps[: self.steps.index(step) + 1]:
            if earlier.block == step.block and earlier.kind in ("genlab", "python") and id(earlier) not in self.results:
                self.results[id(earlier)] = self.execute(earlier)
        return self.results[id(step)]

    def execute(self, step: Step) -> Result:
        cwd = self.folder(step.block)
        buf = io.StringIO()
        if step.kind == "python":
            with inside(cwd), contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                try:
                    exec(compile(step.code, f"README.md:{step.line}", "exec"), {"__name__": "__readme__"})
                except Exception:
                    return Result(1, buf.getvalue() + traceback.format_exc())
            return Result(0, buf.getvalue())
        argv = expand_home(step.argv, cwd / "home")
        made = [f"made {m}" for m in make_inputs(argv, cwd)]
        with inside(cwd):
            why = needs_network(argv)
        if why:
            return Result(0, "", skipped=why, made=made)
        if processes(argv) > 1:  # data-parallel workers re-run the command line
            r = subprocess.run([sys.executable, "-m", "genlab", *argv], cwd=cwd, capture_output=True, text=True,
                               timeout=600, env={**os.environ, "PYTHONUNBUFFERED": "1"})
            return Result(r.returncode, r.stdout + r.stderr, made=made)
        with inside(cwd), contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            code = run_main(*argv)
        return Result(code, buf.getvalue(), made=made)


def check(step: Step, runner: ReadmeRunner) -> None:
    """Pass when the step ran and exited 0; skip (with the reason) what is not run; fail otherwise."""
    if step.kind == "unknown":
        pytest.fail(f"README line {step.line} `{step.text}`: {step.reason}; add it to NOT_GENLAB or make it a "
                    "genlab command")
    if step.kind == "skip":
        pytest.skip(f"README line {step.line} `{step.text}`: {step.reason}")
    if step.kind == "launched":
        problem = option_error(step.argv)
        assert problem is None, f"README line {step.line} `{step.text}`: the CLI refuses it: {problem}"
        pytest.skip(f"README line {step.line} `{step.text}`: {step.reason}")
    if step.kind == "genlab":
        problem = option_error(step.argv)
        assert problem is None, f"README line {step.line} `{step.text}`: the CLI refuses it: {problem}"
    r = runner.result(step)
    shown = f"README line {step.line} `{step.text}`" + (f" (run as `genlab {shlex.join(step.argv)}`)"
                                                         if step.kind == "genlab" else "")
    print(f"{shown}; {', '.join(step.notes + r.made) or 'as written'}")
    if r.skipped:
        pytest.skip(f"README line {step.line} `{step.text}`: {r.skipped}")
    assert r.code == 0, f"{shown} exited {r.code}:\n{r.output[-3000:]}"


# ----------------------------------------------------------------------------- the README's commands

STEPS = parse_readme(README.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return ReadmeRunner(STEPS, tmp_path_factory.mktemp("readme"))


@pytest.mark.parametrize("step", [pytest.param(s, id=s.id, marks=[pytest.mark.slow]
                                               if s.kind == "genlab" and processes(s.argv) > 1 else [])
                                  for s in STEPS])
def test_readme_command(step, runner):
    check(step, runner)


# ----------------------------------------------------------------------------- the parser and runner


def test_the_readme_shows_commands_of_every_kind():
    kinds = {s.argv[0] for s in STEPS if s.kind == "genlab"}
    assert {"train", "sample", "eval", "compare"} <= kinds, kinds
    assert any(s.kind == "python" for s in STEPS)
    assert sum(s.kind == "genlab" for s in STEPS) >= 20


SAMPLE = """
Some text with `genlab inline --code` that is not a block.

```bash
make demo   # not genlab
genlab train gan --data grid25 --steps 3000 --batch-size=128 --out runs/a   # a comment
genlab train vae --data folder:~/pics \\
    --image-size 16 --out runs/b
genlab interpolate runs/a --steps 10 --out s.png
curl https://example.com
```

```
genlab train gan --data grid25   # a plain block: a diagram, not run
```

```console
$ genlab eval runs/a --n 5000
modes      the output of the command, not a command
$ python -m pip install genlab
```

```python
import genlab
genlab.train("vae", "digits", out="runs/v", steps=2000)
```
"""


def test_parser_finds_the_commands_and_shrinks_their_budgets():
    steps = parse_readme(SAMPLE)
    assert [(s.kind, s.line) for s in steps] == [("skip", 5), ("genlab", 6), ("genlab", 7), ("genlab", 9),
                                                 ("unknown", 10), ("genlab", 18), ("skip", 20), ("python", 24)]
    assert steps[6].reason == "not a genlab command: installs packages"
    assert steps[7].text == 'python: genlab.train("vae", "digits", out="runs/v", steps=2000)'
    assert steps[1].argv == ["train", "gan", "--data", "grid25", "--steps", "6", "--batch-size", "8", "--out", "runs/a"]
    assert steps[1].notes == ["--steps 3000 -> 6", "--batch-size 128 -> 8"]
    assert steps[2].argv == ["train", "vae", "--data", "folder:~/pics", "--image-size", "16", "--out", "runs/b",
                             "--steps", "2", "--batch-size", "8"]
    assert steps[3].argv == ["interpolate", "runs/a", "--steps", "10", "--out", "s.png"]  # frames, not training
    assert steps[5].argv == ["eval", "runs/a", "--n", "200", "--k", "10"] and steps[5].block != steps[1].block
    assert 'steps=4)' in steps[7].code and steps[7].notes == ["steps=2000 -> 4"]
    assert expand_home(["--data", "folder:~/pics", "~/x", "a~b"], Path("/h")) == ["--data", "folder:/h/pics",
                                                                                  "/h/x", "a~b"]
    with pytest.raises(pytest.fail.Exception, match="neither a genlab command"):
        check(steps[4], ReadmeRunner(steps, Path("/nonexistent")))
    with pytest.raises(pytest.skip.Exception, match="Makefile"):
        check(steps[0], ReadmeRunner(steps, Path("/nonexistent")))


def _with_bogus_option(text: str, pattern: str) -> str:
    """The README text with ``--bogus-option`` added to the first line matching ``pattern``."""
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if re.match(pattern, line))
    lines[i] = lines[i].split("#")[0].rstrip() + " --bogus-option"
    return "\n".join(lines)


@pytest.mark.parametrize("pattern", [r"genlab train ", r"genlab sample ", r"genlab .*--download"])
def test_an_option_the_cli_does_not_accept_fails_the_readme_test(pattern, tmp_path):
    """A copy of the README (README.md itself is untouched) with a bogus option on one command:
    that command's test fails, also for a command that is skipped for needing the network."""
    text = _with_bogus_option(README.read_text(encoding="utf-8"), pattern)
    steps = parse_readme(text)
    (bad,) = [s for s in steps if "--bogus-option" in s.argv]
    assert "--bogus-option" in option_error(bad.argv)
    runner = ReadmeRunner(steps, tmp_path)
    with pytest.raises(AssertionError, match="bogus-option"):
        check(bad, runner)
    if "--download" not in bad.argv:  # run anyway, the command itself exits 2
        bad_run = runner.result(bad)
        assert bad_run.code == 2 and "--bogus-option" in bad_run.output
