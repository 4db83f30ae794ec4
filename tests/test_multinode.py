"""Multi-node runs (--num-nodes): two single-process "nodes" on this machine, started by torchrun
as on two machines that share the run folder, train the weights of one 2-process run and of one
process; without a launcher --num-nodes is a one-line error; only global rank 0 owns the folder."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, run_cli
from helpers import run_main

# every variable a launcher sets: scrubbed, so that this test's processes see only what it gives them
LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "NODE_RANK", "MASTER_ADDR",
                 "MASTER_PORT")
LAUNCHER_PREFIXES = ("SLURM_", "TORCHELASTIC_")

# a 2-D GAN without batch statistics (g_norm=none; the 2-D critic has none): the mean of two
# half-batch gradients is the gradient of the whole batch, so 2 processes train what 1 does
SETTINGS = ["gan", "--data", "grid25", "--steps", "4", "--batch-size", "64", "--seed", "1", "--accelerator", "cpu",
            "--set", "g_norm=none", "--set", "sample_every=0", "--set", "log_every=2", "--quiet"]


def _clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in LAUNCHER_VARS and not k.startswith(LAUNCHER_PREFIXES)}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _weights(run) -> dict[str, torch.Tensor]:
    from genlab.training.checkpoint import WEIGHTS

    return load_file(str(run / WEIGHTS))


def test_two_torchrun_nodes_train_the_weights_of_one_two_process_run_and_of_one_process(tmp_path):
    out, port = tmp_path / "nodes", _free_port()
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
         "--node-rank", str(rank), "--master-addr", "127.0.0.1", "--master-port", str(port),
         "-m", "genlab", "train", *SETTINGS, "--devices", "1", "--num-nodes", "2", "--out", str(out)],
        cwd=ROOT, env=_clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for rank in (0, 1)]
    results = []
    try:
        for p in nodes:
            results.append(p.communicate(timeout=240))
    except subprocess.TimeoutExpired:  # fail with what each node printed, the stuck one included
        for p in nodes:
            p.kill()
        said = results + [p.communicate() for p in nodes[len(results):]]
        pytest.fail("a node did not end within 240 s: " + " | ".join(
            f"node {r} (exit {p.returncode}): stdout {o[-500:]!r} stderr {e[-1500:]!r}"
            for r, (p, (o, e)) in enumerate(zip(nodes, said))))
    finally:
        for p in nodes:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (stdout, stderr) in zip(nodes, results):
        assert p.returncode == 0, stderr[-3000:]
    (out0, err0), (out1, err1) = results
    # the node of global rank 0 speaks for the run and owns the folder; the other only trains
    assert out0.count("run written to") == 1 and "run written to" not in out1, (out0, out1)
    assert "data parallel: 2 processes (DDPStrategy" in err0
    assert not list(tmp_path.glob(".*.lock")), "a run lock was left behind"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nodes"]

    two = tmp_path / "two"
    r = run_cli(*["train", *SETTINGS, "--devices", "2", "--out", two], env=_clean_env(), timeout=240)
    assert r.returncode == 0, r.stderr
    one = tmp_path / "one"
    assert run_main("train", *SETTINGS, "--devices", "1", "--out", one) == 0  # in this process: no launcher

    nodes_w, two_w, one_w = _weights(out), _weights(two), _weights(one)
    assert nodes_w.keys() == two_w.keys() == one_w.keys()
    for k in nodes_w:
        # the same 2-process computation (same slices, same gloo all-reduce of 2 values): equal bits
        assert torch.equal(nodes_w[k], two_w[k]), k
        # one process sums the whole batch in another order: float32 rounding (about 2e-7 here after
        # 4 steps), which Adam's division by sqrt(v) can enlarge for near-zero gradient entries;
        # 2e-5 is a tenth of one update (lr 2e-4), so any real difference in training fails
        assert torch.allclose(nodes_w[k], one_w[k], rtol=0, atol=2e-5), (k, (nodes_w[k] - one_w[k]).abs().max())


def test_num_nodes_without_a_launcher_is_one_line_and_leaves_no_run_folder(tmp_path, monkeypatch, user_error):
    for k in list(os.environ):
        if k in LAUNCHER_VARS or k.startswith(LAUNCHER_PREFIXES):
            monkeypatch.delenv(k)
    out = tmp_path / "run"
    line = user_error("train", "gan", "--data", "grid25", "--steps", "2", "--batch-size", "8", "--accelerator", "cpu",
                      "--devices", "1", "--num-nodes", "2", "--out", out, unchanged=tmp_path)
    assert "--num-nodes 2" in line and "torchrun --nnodes 2" in line and "srun genlab train" in line, line
    assert not out.exists()


def test_a_launcher_with_another_world_size_is_one_line(tmp_path, monkeypatch, user_error):
    for k in list(os.environ):
        if k in LAUNCHER_VARS or k.startswith(LAUNCHER_PREFIXES):
            monkeypatch.delenv(k)
    for k, v in dict(TORCHELASTIC_RUN_ID="x", RANK="0", LOCAL_RANK="0", WORLD_SIZE="4", MASTER_ADDR="127.0.0.1",
                     MASTER_PORT="29500").items():
        monkeypatch.setenv(k, v)
    line = user_error("train", "gan", "--data", "grid25", "--steps", "2", "--batch-size", "8", "--accelerator", "cpu",
                      "--devices", "1", "--num-nodes", "2", "--out", tmp_path / "run", unchanged=tmp_path)
    assert "torchrun started 4 processes" in line and "--devices 1 x --num-nodes 2 is 2" in line, line


def test_the_readme_launch_lines_agree_with_their_genlab_options():
    """The README's torchrun and SLURM examples give genlab the launcher's numbers: --devices the
    processes per machine, --num-nodes the machines (test_readme.py checks the options parse)."""
    from test_readme import README, STEPS, option

    launched = [s for s in STEPS if s.kind == "launched"]
    assert sorted(s.text.split()[0] for s in launched) == ["srun", "torchrun"]
    for s in launched:
        devices, nodes = option(s.argv, "--devices"), option(s.argv, "--num-nodes")
        assert devices and nodes and int(nodes) > 1, s.text
        if s.text.startswith("torchrun"):
            words = shlex.split(s.text)
            assert (option(words, "--nproc-per-node"), option(words, "--nnodes")) == (devices, nodes), s.text
        else:  # the #SBATCH lines of the same script
            text = README.read_text(encoding="utf-8").splitlines()
            script = text[max(i for i in range(s.line) if text[i].startswith("```")):s.line]
            assert f"#SBATCH --nodes={nodes}" in script and f"#SBATCH --ntasks-per-node={devices}" in script, script


@pytest.mark.parametrize("env,devices,rank", [
    ({}, 1, 0),  # a plain process
    # torchrun: RANK is global (GROUP_RANK is the node, LOCAL_RANK the process on it)
    ({"TORCHELASTIC_RUN_ID": "j", "RANK": "3", "LOCAL_RANK": "1", "GROUP_RANK": "1", "WORLD_SIZE": "4"}, 2, 3),
    ({"TORCHELASTIC_RUN_ID": "j", "RANK": "0", "LOCAL_RANK": "0", "GROUP_RANK": "0", "WORLD_SIZE": "4"}, 2, 0),
    # srun: SLURM_PROCID is global (torchrun inside SLURM: torchrun's RANK wins, as in Lightning)
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "2", "SLURM_LOCALID": "0", "SLURM_NODEID": "1"}, 2, 2),
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "2", "TORCHELASTIC_RUN_ID": "j", "RANK": "1", "LOCAL_RANK": "1"}, 2, 1),
    # an interactive SLURM shell is no launcher (Lightning's rule): Fabric's variables count
    ({"SLURM_NTASKS": "4", "SLURM_PROCID": "2", "SLURM_JOB_NAME": "interactive"}, 2, 0),
    # Fabric's launcher: the main process of node 1 (NODE_RANK only) and its worker LOCAL_RANK=1
    ({"MASTER_ADDR": "h", "MASTER_PORT": "1", "NODE_RANK": "1"}, 2, 2),
    ({"MASTER_ADDR": "h", "MASTER_PORT": "1", "NODE_RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "4"}, 2, 3),
    ({"MASTER_ADDR": "h", "MASTER_PORT": "1", "NODE_RANK": "0", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}, 2, 1),
    ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, 4, 4),  # second node's main process, one GPU count of 4
])
def test_global_rank_from_each_launcher(monkeypatch, env, devices, rank):
    from genlab.api import _is_child_process, global_rank

    for k in list(os.environ):
        if k in LAUNCHER_VARS or k.startswith(LAUNCHER_PREFIXES):
            monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert global_rank(devices) == rank
    assert _is_child_process() == (rank != 0)  # rank 0 (and only it) owns the run folder, whatever devices is
