"""The on-disk cache of image folders: built once (in parallel), reused without decoding, the same
batches as a fresh decode, rebuilt when the folder changes or the cache is damaged, and never a
wrong or half-written data set (a folder changing during the build, an unwritable cache folder,
an interrupted build)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

import genlab
from genlab.data import Pixels, cache, folder, load_data
from genlab.data.base import uint8_to_unit
from genlab.errors import BadInputError
from genlab.training.batches import BatchSource

from helpers import image, run_main, write_images


@pytest.fixture
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def decodes(monkeypatch):
    """Counts the images decoded in this process (folders of one chunk decode here, not in workers)."""
    calls = []
    real = folder.decode_file

    def counting(path, size):
        calls.append(path)
        return real(path, size)

    monkeypatch.setattr(folder, "decode_file", counting)
    return calls


def fresh(top, size) -> torch.Tensor:
    """The folder decoded without any cache, as floats: what every load must give."""
    decoded = [folder.decode_file(top / name, size)[0] for name, _, _ in folder.listing(top)]
    rows = [p for p in decoded if p is not None]
    channels = 1 if all(p.shape[0] == 1 or (p[0] == p[1]).all() and (p[1] == p[2]).all() for p in rows) else 3
    return uint8_to_unit(np.stack([np.broadcast_to(p, (3, size, size))[:channels] for p in rows]))


def manifests(root) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.glob("folder-*.json"))]


def test_built_once_then_reused_without_decoding(tmp_path, cache_dir, decodes, monkeypatch, capsys):
    top = write_images(tmp_path / "imgs", 6, (20, 14))
    monkeypatch.setattr(cache, "PROGRESS_MIN", 1)
    first = load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))
    assert len(decodes) == 6 and "6 images decoded" in capsys.readouterr().err
    second = load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))
    assert len(decodes) == 6 and capsys.readouterr().err == ""  # no decoding, no build line
    assert isinstance(second.source(), Pixels) and isinstance(second.source().data, np.memmap)
    assert second.source().data.dtype == np.uint8 and second.source().data.shape == (6, 3, 8, 8)
    assert torch.equal(first.x, second.x) and torch.equal(second.x, fresh(top, 8))
    (only,) = manifests(cache_dir)
    assert only["shape"] == [6, 3, 8, 8] and only["failed"] == [] and only["image_size"] == 8


def test_default_cache_folder_comes_from_the_environment(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(cache_dir / "env"))
    load_data(f"folder:{write_images(tmp_path / 'imgs', 3)}", image_size=8)
    assert len(manifests(cache_dir / "env")) == 1


def test_parallel_build_gives_the_batches_of_a_fresh_decode(tmp_path, cache_dir):
    """More than one chunk of files: decoded by worker processes, same bytes as one process."""
    top = tmp_path / "imgs"
    write_images(top / "cats", cache.CHUNK + 7, (13, 9), "RGB", ext=".jpg")
    write_images(top / "dogs", cache.CHUNK, (9, 13), "L", seed=1)
    (top / "dogs" / "broken.png").write_bytes(b"\x89PNG not an image")
    with pytest.warns(UserWarning, match=r"skipped 1 of \d+ files: dogs/broken.png"):
        built = load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))
    with pytest.warns(UserWarning, match="skipped 1"):  # the same warning from the cache
        reused = load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))
    expected = fresh(top, 8)
    assert manifests(cache_dir)[0]["workers"] == cache.workers_for(2 * cache.CHUNK + 8)
    assert built.y.tolist() == reused.y.tolist() == [0] * (cache.CHUNK + 7) + [1] * cache.CHUNK
    for bundle in (built, reused):
        source = BatchSource(bundle.source(), 16, seed=3, rank=0, world=1)
        for k in range(0, 3 * source.per_epoch, 5):
            assert torch.equal(source.batch(k), expected[source.indices(k)])


def test_a_changed_folder_is_decoded_again(tmp_path, cache_dir, decodes):
    top = write_images(tmp_path / "imgs", 4, (10, 10))
    load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))
    image((10, 10), seed=99).save(top / "img2.png")
    os.utime(top / "img2.png", ns=(1, 1))  # another modification time even on a coarse clock
    changed = load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))
    assert len(decodes) == 8 and torch.equal(changed.x, fresh(top, 8))
    assert len(manifests(cache_dir)) == 1 and len(list(cache_dir.glob("*.npy"))) == 1  # the old state is gone


def test_a_truncated_cache_file_is_noticed_and_rebuilt(tmp_path, cache_dir, decodes, capsys):
    top = write_images(tmp_path / "imgs", 5, (12, 12))
    load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))
    (data,) = cache_dir.glob("folder-*.npy")
    data.write_bytes(data.read_bytes()[:200])
    capsys.readouterr()
    again = load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("note: the cache of") and "rebuilding it" in err[0], err
    assert len(decodes) == 10 and torch.equal(again.x, fresh(top, 8))
    assert data.stat().st_size == manifests(cache_dir)[0]["bytes"]


def test_damage_that_keeps_the_size_is_noticed_and_rebuilt(tmp_path, cache_dir, decodes, capsys):
    """Bytes flipped in the middle of the pixels (same size, same header): the pixels' SHA-256
    in the manifest no longer matches, so the cache is rebuilt and the run sees the true pixels."""
    top = write_images(tmp_path / "imgs", 5, (12, 12))
    load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))
    (data,) = cache_dir.glob("folder-*.npy")
    raw = bytearray(data.read_bytes())
    middle = len(raw) - 300
    raw[middle:middle + 50] = bytes(255 - b for b in raw[middle:middle + 50])
    data.write_bytes(bytes(raw))
    capsys.readouterr()
    again = load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "does not match the checksum of its pixels" in err[0] and "rebuilding it" in err[0], err
    assert len(decodes) == 10 and torch.equal(again.x, fresh(top, 8))


def test_a_damaged_cache_that_cannot_be_rebuilt_is_one_error(tmp_path, cache_dir, monkeypatch):
    top = write_images(tmp_path / "imgs", 3, (12, 12))
    load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))
    (data,) = cache_dir.glob("folder-*.npy")
    data.write_bytes(data.read_bytes()[:100])

    def refuse(self, wait=False):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache.FileLock, "acquire", refuse)  # a read-only cache folder (root writes anyway)
    with pytest.raises(BadInputError, match=r"is damaged \(.*\) and cannot be rebuilt there"):
        load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))


def test_an_unwritable_cache_folder_exits_2(tmp_path, user_error):
    top = write_images(tmp_path / "imgs", 4, (12, 12))
    (tmp_path / "file").write_text("not a folder")
    err = user_error("train", "gan", "--data", f"folder:{top}", "--image-size", "8", "--batch-size", "2",
                     "--steps", "1", "--out", tmp_path / "run", "--cache-dir", tmp_path / "file" / "cache",
                     unchanged=top)
    assert "is not writable" in err and "--cache-dir" in err
    assert not (tmp_path / "run").exists()


def test_a_folder_changing_during_the_build_exits_2(tmp_path, cache_dir, monkeypatch, capsys):
    top = write_images(tmp_path / "imgs", 4, (12, 12))
    real = folder.decode_file

    def meanwhile(path, size):  # another program adds an image while the folder is decoded
        image((12, 12), seed=5).save(top / "late.png")
        return real(path, size)

    monkeypatch.setattr(folder, "decode_file", meanwhile)
    code = run_main("train", "gan", "--data", f"folder:{top}", "--image-size", "8", "--batch-size", "2",
                    "--steps", "1", "--out", tmp_path / "run", "--cache-dir", cache_dir, "-q")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "changed while its images were being cached" in err[0], err
    assert list(cache_dir.iterdir()) == []  # nothing cached, no temporary file left


@pytest.mark.parametrize("where", ["decoding", "manifest"])
def test_an_interrupted_build_leaves_nothing_that_loads(tmp_path, cache_dir, monkeypatch, where):
    top = write_images(tmp_path / "imgs", 5, (12, 12))
    real_decode, real_write = folder.decode_file, cache.atomic_write_text
    seen, interrupt = [], {"on": True}

    def decode(path, size):
        seen.append(path)
        if where == "decoding" and interrupt["on"] and len(seen) == 3:
            raise KeyboardInterrupt  # Ctrl-C halfway through the images
        return real_decode(path, size)

    def write(path, text):
        raise KeyboardInterrupt  # after the data file got its name, before the manifest

    monkeypatch.setattr(folder, "decode_file", decode)
    if where == "manifest":
        monkeypatch.setattr(cache, "atomic_write_text", write)
    with pytest.raises(KeyboardInterrupt):
        load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))
    assert manifests(cache_dir) == [] and not list(cache_dir.glob(".*.tmp"))
    monkeypatch.setattr(cache, "atomic_write_text", real_write)
    seen.clear()
    interrupt["on"] = False
    again = load_data(f"folder:{top}", image_size=8, cache_dir=str(cache_dir))
    assert len(seen) == 5 and torch.equal(again.x, fresh(top, 8))  # decoded again, in full


def test_unpaired_folders_are_cached_and_match_the_old_expansion(tmp_path, cache_dir, unpaired_domains):
    a, b = unpaired_domains
    data = load_data(f"unpaired:{a},{b}", image_size=16, cache_dir=str(cache_dir))
    assert len(manifests(cache_dir)) == 2
    assert isinstance(data.source("x_b"), Pixels) and data.source("x_b").data.shape[1] == 1  # gray, stored once
    assert torch.equal(data.x_b, fresh(b, 16).expand(-1, 3, -1, -1))
    source = BatchSource(data.source("x_b"), 2, seed=0, rank=0, world=1)
    assert torch.equal(source.batch(1), data.x_b[source.indices(1)])


def test_a_run_records_its_cache_folder_and_may_resume_with_another(tmp_path, cache_dir):
    top = write_images(tmp_path / "imgs", 4, (12, 12))
    genlab.train("vae", f"folder:{top}", out=tmp_path / "run", steps=1, batch_size=2, image_size=8,
                 cache_dir=str(cache_dir), overrides={"width": 4, "latent_dim": 2}, sample_every=0)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["cache_dir"] == str(cache_dir.resolve())
    genlab.train("vae", f"folder:{top}", out=tmp_path / "run", steps=2, resume=True,
                 cache_dir=str(cache_dir / "other"))
    assert len(manifests(cache_dir / "other")) == 1


def test_batches_of_a_cached_folder_are_read_without_mapping_the_file(tmp_path):
    """A cached folder's batches come from pread on the cache file (no page of it mapped into the
    process): the same rows as the memory map gives, any order, repeats included."""
    top = write_images(tmp_path / "imgs", 7, size=(9, 9))
    bundle = load_data(f"folder:{top}", image_size=8, cache_dir=str(tmp_path / "cache"))
    pixels = bundle.source("x")
    assert pixels._file is not None
    idx = torch.tensor([6, 0, 3, 3, 1])
    mapped = torch.from_numpy(np.asarray(pixels.data[idx.numpy()], dtype=np.float32)) * (2.0 / 255) - 1.0
    assert torch.equal(pixels.take(idx), mapped) and torch.equal(pixels.take(slice(0, 7)), bundle.x)
