"""Advisory file locks that belong to a process: one trainer per run folder, one builder per cache.

``fcntl.flock`` on a small lock file: the operating system drops the lock when its process ends,
however it ends (Ctrl-C, a crash, ``kill -9``), so a lock file left behind never blocks anyone.
The holder writes its PID into the file for the message others see, and removes the file when
it lets go. A process that opened the file just before that removal finds, once it holds the
lock, that the path now names another file (or none) and tries again on the file that is there:
only the lock on the file currently at the path counts. Where ``fcntl`` does not exist
(Windows) locking is skipped.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from genlab.errors import BadInputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class FileLock:
    """An exclusive lock on ``path`` (created when missing), held by this process until ``release``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self, *, wait: bool = False) -> bool:
        """Take the lock; without ``wait``, False at once when another process holds it."""
        if fcntl is None:  # pragma: no cover
            return True
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            if self._still_at_path(fd):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.fd = fd
                return True
            os.close(fd)  # the previous holder removed the file we locked: lock the current one

    def _still_at_path(self, fd: int) -> bool:
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)

    def holder(self) -> str:
        """"process PID" of the holder as its lock file says, or "another process"."""
        try:
            pid = self.path.read_text().strip()
        except OSError:
            pid = ""
        return f"process {pid}" if pid.isdigit() else "another process"

    def release(self) -> None:
        if self.fd is None:
            return
        self.path.unlink(missing_ok=True)  # while still held, so nobody else holds this file
        os.close(self.fd)
        self.fd = None


def run_lock_path(out: Path) -> Path:
    """The lock of run folder ``out``: a hidden file beside it (``.NAME.lock``), so that it exists
    before the folder does, and stays put while ``--overwrite`` sets an old run aside. Beside the
    real folder (links and ".." resolved), so every way of naming it meets the same lock."""
    real = out.resolve()
    return real.parent / f".{real.name}.lock"


@contextlib.contextmanager
def run_lock(out: str | os.PathLike) -> Iterator[None]:
    """Hold the run folder ``out`` for one process while the block runs. Another process already
    training into it (a new run, a resume or an overwrite) is a one-line error naming its PID.
    Folders made to hold the lock file are removed again if they are still empty at the end."""
    out = Path(out)
    made: list[Path] = []
    lock = FileLock(run_lock_path(out))
    try:
        try:
            for folder in reversed([lock.path.parent, *lock.path.parent.parents]):  # outermost first
                if not folder.exists():
                    with contextlib.suppress(FileExistsError):  # made meanwhile by someone else: theirs
                        folder.mkdir()
                        made.append(folder)
            got = lock.acquire()
        except OSError as err:
            raise BadInputError(f"cannot create {str(lock.path)!r} to reserve --out {str(out)!r} "
                                f"({err.strerror or err}); the folder that holds --out must be writable") from None
        if not got:
            raise BadInputError(f"run folder {str(out)!r} is in use by {lock.holder()} (another genlab train); "
                                f"wait for it to end or choose another --out")
        yield
    finally:
        lock.release()
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty


def trainer_of(out: str | os.PathLike) -> str | None:
    """"process PID" when a ``genlab train`` holds run folder ``out`` now, else None. Probes
    with a shared lock taken and dropped at once, creating nothing."""
    path = run_lock_path(Path(out))
    if fcntl is None or not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return FileLock(path).holder()
    finally:
        os.close(fd)  # closing drops a lock this probe took
    return None
