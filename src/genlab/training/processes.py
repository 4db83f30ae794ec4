"""The processes of a run: the device set-up (Fabric, or one plain device), joining a
data-parallel run, telling a lost peer from a bug, and leaving no worker behind.

Joining: a wait with a limit the user sets, and Ctrl-C / SIGTERM honoured.

While the processes of a run meet (``torch.distributed``'s rendezvous inside ``fabric.launch``)
the main thread sits in C++ and runs no Python signal handler, so a signal would wait for the
rendezvous to end. :func:`joining` makes it heard: the signal's number reaches a watcher
thread through ``signal.set_wakeup_fd``; the watcher prints one line, lets the caller undo what
the start wrote (``abandon``) and ends the process with 128 + the signal's number. A rendezvous
that runs out of time (``--set rendezvous_timeout=S``) becomes one error line naming how many
processes joined.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

from genlab.errors import BadInputError

DEFAULT_PG_TIMEOUT = timedelta(minutes=30)  # torch's: how long a collective may wait once the run is running


def make_fabric(cfg):
    """What runs the loop: one plain device for one full-precision process (Fabric's import costs
    more than a short run's start), else Lightning Fabric with DDP over ``devices x num_nodes``
    processes, whose rendezvous waits ``rendezvous_timeout`` seconds."""
    if cfg.devices * cfg.num_nodes == 1 and cfg.precision == "32-true":
        from genlab.training.device import SingleDevice

        return SingleDevice(cfg.accelerator)
    from lightning_fabric import Fabric

    strategy = "auto"
    if cfg.devices * cfg.num_nodes > 1:
        from lightning_fabric.strategies import DDPStrategy

        strategy = DDPStrategy(timeout=timedelta(seconds=cfg.rendezvous_timeout))
    try:
        return Fabric(accelerator=cfg.accelerator, devices=cfg.devices, num_nodes=cfg.num_nodes,
                      precision=cfg.precision, strategy=strategy)
    except (RuntimeError, ValueError, TypeError) as e:  # e.g. --accelerator cuda without a GPU
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        nodes = f", num_nodes={cfg.num_nodes}" if cfg.num_nodes > 1 else ""
        raise BadInputError(f"cannot use accelerator={cfg.accelerator!r}, devices={cfg.devices}{nodes}, "
                            f"precision={cfg.precision!r} here: {first}") from None


class RendezvousTimeout(BadInputError):
    """The other processes of a data-parallel run did not all join in time."""


def _give_up(signum: int, world: int, abandon: Callable[[], None] | None) -> None:
    what = "interrupted" if signum == signal.SIGINT else "terminated"
    print(f"error: {what} while waiting for the {world} processes of the run to join; nothing was trained",
          file=sys.stderr, flush=True)
    if abandon is not None:
        with contextlib.suppress(Exception):
            abandon()
    os._exit(128 + signum)


def _watch(read_fd: int, done: threading.Event, world: int, abandon: Callable[[], None] | None) -> None:
    while not done.is_set():
        ready, _, _ = select.select([read_fd], [], [], 0.2)
        if not ready or done.is_set():
            continue
        try:
            got = os.read(read_fd, 64)
        except OSError:
            return
        for signum in got:
            if signum in (signal.SIGINT, signal.SIGTERM):
                _give_up(signum, world, abandon)


@contextlib.contextmanager
def joining(world: int, timeout_s: float, *, abandon: Callable[[], None] | None = None,
            pending: Callable[[], int | None] = lambda: None) -> Iterator[None]:
    """Around ``fabric.launch()`` of a ``world``-process run (main thread only): signals end the
    wait, a rendezvous past ``timeout_s`` is one :class:`RendezvousTimeout` line. ``pending()``:
    a signal the run's own handler already took during start-up (it ends the start the same way)."""
    if world <= 1 or threading.current_thread() is not threading.main_thread():
        yield
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    old_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(read_fd, done, world, abandon), daemon=True)
    watcher.start()
    if (signum := pending()) is not None:
        _give_up(signum, world, abandon)
    try:
        yield
    except Exception as e:
        text = str(e)
        joined = re.search(r"(\d+)/(\d+) clients joined", text)
        if joined or type(e).__name__ == "DistStoreError" or "timed out" in text.lower():
            have = f"{joined.group(1)} of {joined.group(2)}" if joined else f"not all {world}"
            raise RendezvousTimeout(
                f"{have} processes joined the run within rendezvous_timeout={timeout_s:g} s; start genlab on every "
                f"machine with the same MASTER_ADDR/MASTER_PORT (or launcher settings), or wait longer with "
                f"--set rendezvous_timeout=SECONDS") from None
        raise
    finally:
        done.set()
        signal.set_wakeup_fd(old_fd)
        watcher.join(timeout=1.0)
        os.close(read_fd)
        os.close(write_fd)


def restore_collective_timeout() -> None:
    """After the rendezvous: collectives wait as long as torch's default again (a slow checkpoint
    on rank 0 is not a lost process), not the rendezvous limit."""
    import torch.distributed as dist

    # the public set_timeout where torch has it; older versions only the private (now deprecated) call
    set_timeout = getattr(dist, "set_timeout", None) or getattr(dist.distributed_c10d, "_set_pg_timeout", None)
    if set_timeout is not None and dist.is_initialized():
        with contextlib.suppress(Exception):
            set_timeout(DEFAULT_PG_TIMEOUT)


def end_process_group() -> None:
    """After a finished data-parallel run: this process leaves its process group now, not in the
    interpreter's exit, where the order in which the group's sockets and the launcher's store
    client are torn down is not fixed (torch asks for ``destroy_process_group`` before exit), and a
    later run in the same process starts a group of its own."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def reap_workers(fabric, grace: float) -> None:
    """Rank 0 of a launched data-parallel run leaves no worker behind: each has finished (or is
    finishing) by now; one still alive after a grace period is stuck and is killed."""
    launcher = getattr(fabric, "_strategy", None)
    procs = getattr(getattr(launcher, "launcher", None), "procs", None) or []
    for p in procs:
        try:
            p.wait(timeout=grace)
        except Exception:  # still alive after the grace period: stuck in a collective
            p.kill()
            p.wait()


def is_peer_failure(e: BaseException) -> bool:
    """A collective failed because another process went away (gloo/NCCL report it as an error)."""
    import torch.distributed as dist

    if isinstance(e, getattr(dist, "DistError", ())):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and any(
        w in text for w in ("connection closed by peer", "connection reset", "broken pipe", "gloo", "nccl"))


def first_sentence(e: BaseException) -> str:
    """'[gloo/pair.cc:561] Connection closed by peer [127.0.0.1]:4. This...' -> 'Connection closed by peer'."""
    import re

    text = re.sub(r"\[[^\]]*\]:?\d*", "", str(e)).strip()
    return (text.split(".")[0].strip() or type(e).__name__)[:100]
