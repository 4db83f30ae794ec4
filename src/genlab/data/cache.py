"""The on-disk cache of decoded image folders: ``folder:PATH`` is decoded once, then memory-mapped.

Under the cache folder (``--cache-dir``, else $GENLAB_CACHE, else ~/.cache/genlab/cache):

    folder-KEY.npy    uint8 (N, C, S, S): the readable images, in the folder's sorted order
    folder-KEY.json   its manifest: shape, byte count, unreadable files, the pixels' SHA-256, a checksum of itself

KEY hashes what the images depend on: the folder's sorted list of files with their sizes and
modification times, and the image size S. A changed folder has a new key, so it is decoded
again (and the caches of its older states are removed); an unchanged one loads at once, as a
read-only memory map whose pages the system reads only when a batch touches them.

A build decodes in worker processes (all cores; a progress line on stderr for large folders),
writes a temporary file, renames it when it is complete, and writes the manifest last, so an
interrupted build (Ctrl-C, ``kill -9``, a full disk) never leaves a cache that loads: a data file
without a valid manifest is ignored. The folder is listed again after decoding; if it changed
meanwhile the build stops with an error instead of caching a mixture. A data file whose size
or header disagrees with its manifest (truncated, damaged), or whose pixels no longer match their
SHA-256 (damage that kept the size; checked at every open, about 1 s per GB), is rebuilt with a
one-line note.
Builds of one key take turns (a file lock), so two runs started together decode once.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from genlab.errors import BadInputError
from genlab.io import FILE_MODE, atomic_write_text, fsync_dir
from genlab.lock import FileLock

FORMAT = 1  # bump when the stored pixels would change for the same files
DEFAULT_DIR = "~/.cache/genlab/cache"
CHUNK = 64  # files decoded per task; one task or fewer decodes in this process
PROGRESS_MIN = 256  # folders with fewer images build without a progress line

Listing = list[tuple[str, int, int]]  # (path relative to the folder, bytes, mtime in ns), sorted
Decoder = Callable[[Path, int], tuple[np.ndarray | None, str]]  # -> (uint8 (C, S, S), "") or (None, why)


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else $GENLAB_CACHE, else ~/.cache/genlab/cache."""
    return Path(cache_dir or os.environ.get("GENLAB_CACHE") or DEFAULT_DIR).expanduser()


def cache_key(listing: Listing, size: int) -> str:
    text = json.dumps({"format": FORMAT, "size": size, "files": listing}, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _checksum(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in 8 MiB blocks (about 1 s per GB on one core)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _unwritable(root: Path, err: OSError) -> BadInputError:
    return BadInputError(f"cache directory {str(root)!r} is not writable ({err.strerror or err}); "
                         f"pass --cache-dir DIR (or set GENLAB_CACHE) to a writable folder")


# ----------------------------------------------------------------------------- reading


def _open(root: Path, key: str) -> tuple[np.ndarray, list] | str | None:
    """The cached pixels and unreadable files of ``key``; None when there is no complete cache,
    or a few words saying why the cache there cannot be used."""
    path = root / f"folder-{key}.json"
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
        if manifest.get("checksum") != _checksum(manifest) or manifest.get("key") != key:
            return "its manifest does not match its checksum"
        data = root / f"folder-{key}.npy"
        size = data.stat().st_size if data.is_file() else 0
        if size != manifest["bytes"]:
            return f"{data.name} has {size} bytes, its manifest says {manifest['bytes']}"
        if "pixels_sha256" not in manifest:
            return "it has no checksum of its pixels (an older cache)"
        if _sha256_file(data) != manifest["pixels_sha256"]:  # damage that kept the size
            return f"{data.name} does not match the checksum of its pixels"
        pixels = np.load(data, mmap_mode="r")
        if pixels.dtype != np.uint8 or list(pixels.shape) != manifest["shape"]:
            return f"{data.name} holds {pixels.dtype} {pixels.shape}, its manifest says uint8 {manifest['shape']}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        return f"it cannot be read ({err})"
    return pixels, [tuple(f) for f in manifest["failed"]]


def cached_images(top: Path, listing: Listing, paths: list[Path], size: int, *, cache_dir: str | None,
                  decode: Decoder, relist: Callable[[], Listing]) -> tuple[np.ndarray | None, list[tuple[str, str]]]:
    """The images ``paths`` of folder ``top`` (listed as ``listing``) as uint8 (N, C, size, size),
    from the cache or decoded into it, and the files that could not be decoded as (relative
    path, why). None instead of pixels when none could be decoded (nothing is cached then)."""
    root, key = cache_root(cache_dir), cache_key(listing, size)
    found = _open(root, key)
    if isinstance(found, tuple):
        return found
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(root / f"folder-{key}.lock")
        lock.acquire(wait=True)  # another process building the same key: wait for it, then reuse
    except OSError as err:
        if found is None:
            raise _unwritable(root, err) from None
        raise BadInputError(f"the cache of {str(top)!r} in {str(root)!r} is damaged ({found}) and cannot be "
                            f"rebuilt there ({err.strerror or err}); pass --cache-dir DIR (or set GENLAB_CACHE) "
                            f"to a writable folder") from None
    try:
        found = _open(root, key)  # again: it may have been built while this process waited
        if isinstance(found, tuple):
            return found
        if found is not None:
            print(f"note: the cache of {str(top)!r} in {str(root)!r} is damaged ({found}); rebuilding it",
                  file=sys.stderr, flush=True)
        for old in root.glob(f".folder-{key}.*.tmp"):  # left by a killed build of this key
            old.unlink(missing_ok=True)
        return _build(root, key, top, listing, paths, size, decode, relist)
    finally:
        lock.release()


# ----------------------------------------------------------------------------- decoding


def _is_gray(pixels: np.ndarray) -> bool:
    return pixels.shape[0] == 1 or bool((pixels[0] == pixels[1]).all() and (pixels[1] == pixels[2]).all())


def _decode_chunk(decode: Decoder, paths: list[Path], size: int) -> list[tuple[np.ndarray | None, str, bool]]:
    out = []
    for path in paths:
        pixels, why = decode(path, size)
        out.append((pixels, why, pixels is not None and _is_gray(pixels)))
    return out


def _worker_start() -> None:
    import signal

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    torch.set_num_threads(1)  # one image at a time per process: the processes are the parallelism


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def workers_for(n: int) -> int:
    """Processes a build of ``n`` images uses: every core, at most one per chunk of files."""
    return max(1, min(_cores(), -(-n // CHUNK)))


def _decoded(paths: list[Path], size: int, decode: Decoder) -> Iterator[list]:
    """Each chunk's decoded images, in order."""
    chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
    workers = workers_for(len(paths))
    if workers == 1:
        yield from (_decode_chunk(decode, chunk, size) for chunk in chunks)
        return
    # fork on Linux: workers start at once, with the imports of this process; one image decoded
    # here first imports the decoder's libraries (torchvision: seconds) once for all of them.
    # Elsewhere the platform's default (spawn on macOS and Windows, where fork is unsafe).
    decode(paths[0], size)
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start)
    try:
        yield from pool.map(_decode_chunk, [decode] * len(chunks), chunks, [size] * len(chunks))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Progress:
    """"caching FOLDER: 1234/5000 images (2 processes)" on stderr, rewritten in place on a terminal."""

    def __init__(self, top: Path, total: int):
        self.top, self.total, self.workers = top, total, workers_for(total)
        self.show, self.tty = total >= PROGRESS_MIN, sys.stderr.isatty()
        self.t0 = self.shown = time.monotonic()
        self.open = False  # a line without its newline yet

    def _print(self, text: str, end: str) -> None:
        print(("\r" if self.open else "") + text, end=end, file=sys.stderr, flush=True)
        self.open = not end

    def update(self, done: int) -> None:
        if self.show and self.tty and (time.monotonic() - self.shown > 0.2 or done == self.total):
            self.shown = time.monotonic()
            self._print(f"caching {str(self.top)!r}: {done}/{self.total} images ({self.workers} processes)", "")

    def end(self, kept: int, path: Path) -> float:
        seconds = time.monotonic() - self.t0
        if self.show:
            self._print(f"cached {str(self.top)!r}: {kept} images decoded in {seconds:.1f} s by {self.workers} "
                        f"processes into {str(path)!r}", "\n")
        return seconds

    def close(self) -> None:
        if self.open:  # an error follows: on a line of its own
            self._print("", "\n")


# ----------------------------------------------------------------------------- writing


def _write_npy(path: str, shape: tuple[int, ...], parts: Iterator[np.ndarray]) -> None:
    """An .npy file of uint8 ``shape`` from consecutive blocks of rows, written in order (plain
    writes, not a memory map: a full disk is an error, not a crash), then fsynced."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
        for part in parts:
            f.write(np.ascontiguousarray(part, dtype=np.uint8).tobytes())
        f.flush()
        os.fsync(f.fileno())


def _temp(root: Path, key: str) -> str:
    fd, path = tempfile.mkstemp(prefix=f".folder-{key}.", suffix=".tmp", dir=root)
    os.close(fd)
    os.chmod(path, FILE_MODE)  # mkstemp's 0600 -> the usual mode, so a shared cache stays readable
    return path


def _decode_into(path: str, top: Path, paths: list[Path], size: int, decode: Decoder, progress: _Progress):
    """Decode ``paths`` into the .npy file ``path`` as uint8 (N, 3, S, S), in order, zeros for the
    unreadable; returns which decoded, which are gray, and the unreadable as (relative path, why)."""
    n = len(paths)
    ok, gray, failed = np.zeros(n, bool), np.zeros(n, bool), []

    def blocks() -> Iterator[np.ndarray]:
        start = 0
        for chunk in _decoded(paths, size, decode):
            block = np.zeros((len(chunk), 3, size, size), np.uint8)
            for j, (pixels, why, is_gray) in enumerate(chunk):
                if pixels is None:
                    failed.append((paths[start + j].relative_to(top).as_posix(), why))
                else:  # a gray (1, S, S) image is repeated to RGB here, and kept gray later if all are
                    block[j], ok[start + j], gray[start + j] = pixels, True, is_gray
            start += len(chunk)
            progress.update(start)
            yield block

    with contextlib.closing(blocks()) as parts:  # closed on any error: the worker processes stop
        _write_npy(path, (n, 3, size, size), parts)
    return ok, gray, failed


def _build(root: Path, key: str, top: Path, listing: Listing, paths: list[Path], size: int, decode: Decoder,
           relist: Callable[[], Listing]) -> tuple[np.ndarray | None, list[tuple[str, str]]]:
    progress, temps = _Progress(top, len(paths)), [_temp(root, key)]
    data = root / f"folder-{key}.npy"
    try:
        ok, gray, failed = _decode_into(temps[0], top, paths, size, decode, progress)
        if relist() != listing:
            raise BadInputError(f"folder {str(top)!r} changed while its images were being cached (files added, "
                                f"removed or modified); run again once it no longer changes")
        keep = np.flatnonzero(ok)
        if not len(keep):
            return None, failed
        channels = 1 if gray[keep].all() else 3  # gray images of a colour set are repeated to RGB
        if len(keep) < len(paths) or channels == 1:  # drop the unreadable rows and the repeated channels
            everything = np.load(temps[0], mmap_mode="r")
            temps.append(_temp(root, key))
            step = 4 * CHUNK
            _write_npy(temps[1], (len(keep), channels, size, size),
                       (everything[keep[i:i + step], :channels] for i in range(0, len(keep), step)))
            del everything
        os.replace(temps[-1], data)
        fsync_dir(root)
        seconds = progress.end(len(keep), data)
        manifest = {"format": FORMAT, "key": key, "folder": str(top.resolve()), "image_size": size, "file": data.name,
                    "shape": [len(keep), channels, size, size], "bytes": data.stat().st_size, "failed": failed,
                    "pixels_sha256": _sha256_file(data), "workers": progress.workers, "seconds": round(seconds, 3)}
        atomic_write_text(root / f"folder-{key}.json", json.dumps({**manifest, "checksum": _checksum(manifest)}))
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, errno.EDQUOT):
            raise _unwritable(root, err) from None
        raise
    finally:
        progress.close()
        for path in temps:
            Path(path).unlink(missing_ok=True)
    _forget_older(root, key, top, size)
    return np.load(data, mmap_mode="r"), failed


def _forget_older(root: Path, key: str, top: Path, size: int) -> None:
    """Remove the caches of earlier states of the same folder at the same size."""
    for path in root.glob("folder-*.json"):
        try:
            manifest = json.loads(path.read_text())
            if manifest["key"] != key and (manifest["folder"], manifest["image_size"]) == (str(top.resolve()), size):
                path.with_suffix(".npy").unlink(missing_ok=True)
                path.unlink(missing_ok=True)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not ours to judge
