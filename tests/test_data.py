"""genlab.data: the embedded sets, user points and folders, the registry and its errors."""

from __future__ import annotations

import socket
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data import DATASETS, DataBundle, DatasetSpec, Pixels, load_data, parse_spec
from genlab.data.base import uint8_to_unit
from genlab.errors import BadInputError, UnknownNameError
from genlab.training.batches import BatchSource


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Image folders are cached in a temporary folder, not in the user's ~/.cache."""
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path_factory.mktemp("cache")))


# --- registry and spec parsing --------------------------------------------------------------


def test_registry_entries_are_specs_with_one_line_help():
    expected = {"ring8", "grid25", "swissroll", "digits", "mnist5k", "shapes", "points", "folder",
                "mnist", "fashion-mnist", "cifar10"}
    assert expected <= set(DATASETS)
    for name, entry in DATASETS.items():
        assert isinstance(entry, DatasetSpec)
        assert entry.help and "\n" not in entry.help, name
        assert entry.takes_arg == (name in ("points", "folder", "unpaired"))


def test_parse_spec():
    assert parse_spec("grid25") == ("grid25", None)
    assert parse_spec(" Ring8 ") == ("ring8", None)
    assert parse_spec("points:/a/b.csv") == ("points", "/a/b.csv")
    assert parse_spec("folder:C:/x:y") == ("folder", "C:/x:y")  # only the first colon splits
    assert parse_spec("folder:") == ("folder", None)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(UnknownNameError) as info:
        load_data("ring9")
    message = str(info.value)
    assert "ring9" in message and "ring8" in message and "mnist5k" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "spec, kwargs",
    [("points", {}), ("folder", {}), ("ring8:extra", {}), ("", {}),
     ("ring8", {"split": "valid"}), ("shapes", {"image_size": 0}), ("ring8", {"seed": -1})],
)
def test_bad_specs_and_options_raise_bad_input(spec, kwargs):
    with pytest.raises(BadInputError) as info:
        load_data(spec, **kwargs)
    assert "\n" not in str(info.value)


# --- toy 2-D ----------------------------------------------------------------------------------


def _nearest_mode(x: torch.Tensor, modes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    distance = torch.cdist(x, modes)  # (N, M)
    return distance.min(dim=1)


def test_ring8_points_sit_on_equally_used_modes():
    data = load_data("ring8")
    assert data.kind == "vector" and data.x.shape == (100_000, 2) and data.x.dtype == torch.float32
    assert data.y is None and data.mode_std == 0.01
    angles = torch.arange(8) * (2 * torch.pi / 8)
    expected = torch.stack([angles.cos(), angles.sin()], dim=1)
    assert torch.allclose(data.modes, expected, atol=1e-6)
    assert torch.allclose(data.modes.norm(dim=1), torch.ones(8), atol=1e-6)

    distance, nearest = _nearest_mode(data.x, data.modes)
    # 2-D Gaussian: P(r > 5 sigma) = exp(-12.5) ~ 4e-6, so at most a stray point or two.
    assert (distance < 5 * 0.01).float().mean() > 0.9999
    assert distance.max() < 7 * 0.01
    counts = torch.bincount(nearest, minlength=8).float()
    assert (counts / counts.mean() - 1).abs().max() < 0.05  # each mode ~12.5k, sd ~ 1%


def test_grid25_centres_and_per_mode_std():
    data = load_data("grid25")
    ticks = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    expected = torch.cartesian_prod(ticks, ticks)
    assert data.modes.shape == (25, 2) and torch.equal(data.modes, expected)
    assert data.mode_std == 0.05

    distance, nearest = _nearest_mode(data.x, data.modes)
    assert (distance < 5 * 0.05).float().mean() > 0.9999
    counts = torch.bincount(nearest, minlength=25)
    assert counts.min() > 0.9 * 4000 and counts.max() < 1.1 * 4000
    for m in range(25):
        offsets = data.x[nearest == m] - data.modes[m]
        assert offsets.mean(dim=0).abs().max() < 0.01
        assert torch.allclose(offsets.std(dim=0), torch.full((2,), 0.05), rtol=0.06)


@pytest.mark.parametrize("name", ["ring8", "grid25", "swissroll"])
def test_toy_seed_and_split_control_the_draw(name):
    a = load_data(name, seed=3)
    assert torch.equal(a.x, load_data(name, seed=3).x)
    assert not torch.equal(a.x, load_data(name, seed=4).x)
    test = load_data(name, seed=3, split="test")
    assert test.x.shape == a.x.shape and not torch.equal(test.x, a.x)
    assert a.meta["split"] == "train" and test.meta["split"] == "test"


def test_swissroll_is_a_unit_scale_spiral():
    data = load_data("swissroll")
    assert data.x.shape == (100_000, 2) and data.modes is None
    assert data.x.abs().max() < 2.5
    radius = data.x.norm(dim=1)
    assert radius.min() > 0.3  # the roll starts at t = 1.5*pi, so its centre is empty


# --- embedded images ------------------------------------------------------------------------


@pytest.mark.parametrize("name, size", [("digits", 8), ("mnist5k", 28)])
def test_embedded_digits(name, size):
    train, test = load_data(name), load_data(name, split="test")
    for data in (train, test):
        assert data.kind == "image" and data.sample_shape == (1, size, size)
        assert data.x.dtype == torch.float32 and data.x.is_contiguous()
        assert data.x.min() == -1.0 and data.x.max() == 1.0
        assert data.y.dtype == torch.int64 and data.y.shape == (len(data.x),)
        assert set(data.y.tolist()) == set(range(10))
        assert data.num_classes == 10 and data.class_names == [str(d) for d in range(10)]
    total = len(train.x) + len(test.x)
    assert total == (1797 if name == "digits" else 5000)
    assert 0.08 < len(test.x) / total < 0.12
    # Disjoint: no test image appears in train (the sets hold no exact duplicates across split).
    train_rows = {row.numpy().tobytes() for row in train.x.flatten(1)}
    assert not any(row.numpy().tobytes() in train_rows for row in test.x.flatten(1))
    # The split is fixed, not drawn from the run seed.
    assert torch.equal(test.x, load_data(name, split="test", seed=5).x)


def test_mnist5k_looks_like_mnist():
    data = load_data("mnist5k", split="test")
    # MNIST digits are white strokes on a black background: mostly -1, some bright pixels.
    assert (data.x == -1).float().mean() > 0.7
    assert (data.x > 0.5).float().mean() > 0.05


def test_embedded_resize_keeps_range():
    data = load_data("digits", image_size=16, split="test")
    assert data.sample_shape == (1, 16, 16)
    assert data.x.min() >= -1.0 and data.x.max() <= 1.0


@pytest.mark.parametrize("size", [16, 64])
def test_shapes_sizes_and_classes(size):
    data = load_data("shapes", image_size=size, split="test")
    assert data.sample_shape == (3, size, size) and len(data.x) == 1000
    assert data.x.min() >= -1.0 and data.x.max() <= 1.0
    assert data.num_classes == len(data.class_names) >= 4
    assert torch.bincount(data.y).tolist() == [250] * 4
    # Coloured: the channels differ somewhere in most images.
    spread = (data.x.max(dim=1).values - data.x.min(dim=1).values).flatten(1).max(dim=1).values
    assert (spread > 0.3).float().mean() > 0.9


def test_shapes_default_size_and_determinism():
    a = load_data("shapes")
    assert a.sample_shape == (3, 32, 32) and len(a.x) == 5000
    assert torch.equal(a.x[:50], load_data("shapes", seed=9).x[:50])
    assert not torch.equal(a.x[:50], load_data("shapes", split="test").x[:50])


# --- points:PATH ----------------------------------------------------------------------------


def test_points_csv_with_header_and_npy_round_trip(tmp_path):
    values = np.array([[0.5, -1.25, 3.0], [2.0, 1e-3, -7.5], [4.0, 5.0, 6.0]], dtype=np.float32)
    csv_path = tmp_path / "pts.csv"
    csv_path.write_text("a, b, c\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in values) + "\n")
    npy_path = tmp_path / "pts.npy"
    np.save(npy_path, values.astype(np.float64))

    for path in (csv_path, npy_path):
        data = load_data(f"points:{path}")
        assert data.kind == "vector" and data.spec == f"points:{path}"
        assert data.x.dtype == torch.float32 and data.sample_shape == (3,)
        assert torch.equal(data.x, torch.from_numpy(values))


def test_points_csv_without_header_one_column(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("1\n2\n\n3\n")  # blank lines are ignored
    assert load_data(f"points:{path}").x.tolist() == [[1.0], [2.0], [3.0]]


@pytest.mark.parametrize(
    "filename, content",
    [
        ("vec.npy", np.arange(5.0)),                      # 1-D
        ("cube.npy", np.zeros((2, 2, 2))),                # 3-D
        ("nan.npy", np.array([[1.0, np.nan], [2.0, 3.0]])),
        ("inf.csv", "1,2\n3,inf\n"),
        ("nan.csv", "1,2\nnan,4\n"),
        ("text.csv", "x,y\n1,2\n3,hello\n"),
        ("gap.csv", "1,2\n3,\n"),
        ("ragged.csv", "1,2\n3,4,5\n"),
        ("empty.csv", ""),
        ("header_only.csv", "x,y\n"),
        ("one_row.csv", "1,2\n"),
        ("strings.npy", np.array([["a", "b"], ["c", "d"]])),
        ("pts.txt", "1,2\n3,4\n"),                        # wrong extension
    ],
)
def test_bad_points_files(tmp_path, filename, content):
    path = tmp_path / filename
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_text(content)
    with pytest.raises(BadInputError) as info:
        load_data(f"points:{path}")
    message = str(info.value)
    assert str(path) in message and "expected an (N, D) array" in message and "\n" not in message


def test_missing_points_file(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        load_data(f"points:{tmp_path / 'nope.csv'}")


# --- folder:PATH ----------------------------------------------------------------------------


def _save(path, mode, size, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)


def test_folder_mixed_images_skips_bad_files(tmp_path):
    _save(tmp_path / "rgb_wide.png", "RGB", (40, 20), (255, 0, 0))
    _save(tmp_path / "gray.png", "L", (16, 16), 128)
    _save(tmp_path / "sub" / "rgba.png", "RGBA", (30, 50), (0, 0, 255, 255))
    _save(tmp_path / "photo.jpg", "RGB", (24, 24), (0, 255, 0))
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    good = tmp_path / "good.png"
    _save(good, "RGB", (64, 64), (10, 20, 30))
    (tmp_path / "truncated.png").write_bytes(good.read_bytes()[:60])
    (tmp_path / "notes.txt").write_text("not an image")

    with pytest.warns(UserWarning, match="skipped 3 of 8"):
        data = load_data(f"folder:{tmp_path}", image_size=12)
    assert data.kind == "image" and data.sample_shape == (3, 12, 12) and len(data.x) == 5
    assert data.meta["skipped"] == 3
    assert data.y is None and data.num_classes == 0
    assert data.x.dtype == torch.float32 and data.x.min() >= -1 and data.x.max() <= 1
    # Sorted order: good, gray, photo, rgb_wide, sub/rgba. Plain colours survive resizing.
    assert torch.allclose(data.x[1], torch.full((3, 12, 12), 128 / 127.5 - 1), atol=1e-5)  # gray -> RGB
    assert torch.allclose(data.x[3, :, 6, 6], torch.tensor([1.0, -1.0, -1.0]))
    assert torch.allclose(data.x[4, :, 6, 6], torch.tensor([-1.0, -1.0, 1.0]))


def test_folder_default_size_grayscale_and_transparency(tmp_path):
    _save(tmp_path / "a.png", "L", (100, 80), 0)
    _save(tmp_path / "b.bmp", "L", (30, 30), 255)
    _save(tmp_path / "c.png", "LA", (20, 20), (0, 0))  # fully transparent -> white backdrop
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to skip, so no warning
        data = load_data(f"folder:{tmp_path}")
    assert data.sample_shape == (1, 64, 64)
    assert data.x[0].max() == -1 and data.x[1].min() == 1 and data.x[2].min() == 1
    assert data.meta["skipped"] == 0


def test_folder_class_subfolders_give_labels(tmp_path):
    for i in range(3):
        _save(tmp_path / "dogs" / f"{i}.png", "RGB", (8, 8), (200, 0, 0))
    for i in range(2):
        _save(tmp_path / "cats" / "nested" / f"{i}.png", "RGB", (8, 8), (0, 200, 0))
    (tmp_path / "empty_dir").mkdir()
    data = load_data(f"folder:{tmp_path}", image_size=8)
    assert data.class_names == ["cats", "dogs"] and data.num_classes == 2
    assert data.y.dtype == torch.int64 and data.y.tolist() == [0, 0, 1, 1, 1]
    assert (data.x[data.y == 1, 0] > 0.5).all() and (data.x[data.y == 0, 1] > 0.5).all()


@pytest.mark.parametrize("setup", ["empty", "only_junk", "missing", "file"])
def test_folder_errors(tmp_path, setup):
    target = tmp_path / "data"
    if setup == "empty":
        target.mkdir()
    elif setup == "only_junk":
        target.mkdir()
        (target / "x.png").write_bytes(b"garbage")
        (target / "readme.md").write_text("hi")
    elif setup == "file":
        target.write_text("a file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BadInputError) as info:
            load_data(f"folder:{target}")
    message = str(info.value)
    assert str(target) in message and "\n" not in message
    if setup in ("empty", "only_junk"):
        assert "no readable images" in message and ".png" in message


# --- torchvision sets ------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the test tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_torchvision_sets_without_files_say_how_to_get_them(tmp_path, no_network, name):
    with pytest.raises(BadInputError) as info:
        load_data(name, root=str(tmp_path))
    message = str(info.value)
    assert "--download" in message and "--root" in message and str(tmp_path) in message
    assert "\n" not in message


def _write_idx(path, array: np.ndarray) -> None:
    """The big-endian IDX files MNIST ships: magic (0, 0, 0x08 = uint8, ndim), dims, bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_sets_read_files_already_in_root(tmp_path, no_network, name, folder):
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 20), ("t10k", 10)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    train = load_data(name, root=str(tmp_path))
    assert train.sample_shape == (1, 28, 28) and len(train.x) == 20
    assert train.x.dtype == torch.float32 and -1 <= train.x.min() and train.x.max() <= 1
    assert train.y.tolist() == [i % 10 for i in range(20)] and train.num_classes == 10
    test = load_data(name, root=str(tmp_path), split="test", image_size=14)
    assert test.sample_shape == (1, 14, 14) and len(test.x) == 10


def test_bundle_sample_shape_property():
    bundle = DataBundle(spec="x", kind="vector", x=torch.zeros(4, 3))
    assert bundle.sample_shape == (3,) and bundle.meta == {} and bundle.class_names == []


# --- storage: uint8 pixels, float batches ----------------------------------------------------


def _batches_match_the_whole_set(data, batch_size=16):
    """Every batch drawn from the stored pixels equals the same rows of the float view ``x``,
    for one process and for each half of a two-process batch."""
    for part in data.sizes:
        whole = getattr(data, part)
        one = BatchSource(data.source(part), batch_size, seed=1, rank=0, world=1)
        halves = [BatchSource(data.source(part), batch_size, seed=1, rank=r, world=2) for r in (0, 1)]
        for k in (0, 1, one.per_epoch + 2):
            assert torch.equal(one.batch(k), whole[one.indices(k)])
            assert torch.equal(torch.cat([h.batch(k) for h in halves]), one.batch(k))


@pytest.mark.parametrize("name, kwargs, max_value", [
    ("digits", {}, 16.0), ("digits", {"image_size": 12}, 16.0), ("mnist5k", {}, 255.0),
    ("mnist5k", {"image_size": 20, "split": "test"}, 255.0),
])
def test_embedded_images_are_stored_as_uint8_and_batched_as_floats(name, kwargs, max_value):
    data = load_data(name, **kwargs)
    pixels = data.source()
    assert isinstance(pixels, Pixels) and pixels.data.dtype == np.uint8 and pixels.max_value == max_value
    assert pixels.data.nbytes == pixels.data.size  # one byte a pixel, at the native size
    assert data.sample_shape == tuple(data.x.shape[1:]) and data.x.dtype == torch.float32
    assert data.x is data.x  # the float view is built once
    if not kwargs.get("image_size"):
        assert torch.equal(data.x, uint8_to_unit(pixels.data, max_value))
    _batches_match_the_whole_set(data)


def test_folder_and_unpaired_batches_match_the_whole_set(tmp_path):
    for i in range(6):
        _save(tmp_path / "a" / f"{i}.png", "RGB", (9 + i, 7), (30 * i, 200, 10))
        _save(tmp_path / "b" / f"{i}.png", "L", (8, 11), 40 * i)
    folder = load_data(f"folder:{tmp_path / 'a'}", image_size=8)
    assert isinstance(folder.source(), Pixels) and folder.source().data.dtype == np.uint8
    _batches_match_the_whole_set(folder, batch_size=4)
    pair = load_data(f"unpaired:{tmp_path / 'a'},{tmp_path / 'b'}", image_size=8)
    assert pair.sample_shape == (3, 8, 8) and pair.x_b.shape == (6, 3, 8, 8)  # gray B repeated to RGB
    _batches_match_the_whole_set(pair, batch_size=4)


def test_bundle_parts_can_be_replaced_by_float_tensors():
    data = load_data("digits")
    data.x = data.x[:10].expand(-1, 3, -1, -1)
    assert data.source() is data.x and data.sample_shape == (3, 8, 8) and data.sizes == {"x": 10}


def test_shapes_stay_float_because_their_values_are_not_8_bit():
    data = load_data("shapes", image_size=8)
    assert isinstance(data.source(), torch.Tensor) and data.source() is data.x
    assert not torch.equal(data.x, uint8_to_unit(((data.x + 1) * 127.5).round().to(torch.uint8)))


def test_torchvision_sets_are_stored_as_uint8(tmp_path, no_network):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for prefix, n in (("train", 20), ("t10k", 10)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    data = load_data("mnist", root=str(tmp_path), image_size=14)
    assert data.source().data.dtype == np.uint8 and data.source().data.shape == (20, 1, 28, 28)
    assert data.sample_shape == (1, 14, 14)
    _batches_match_the_whole_set(data, batch_size=8)


def test_each_dataset_declares_the_kind_it_loads(tmp_path):
    """The kind a spec declares (read before anything loads: presets, checks) is what it loads."""
    import numpy as np

    from helpers import write_images, write_unpaired

    np.save(tmp_path / "p.npy", np.zeros((10, 3), dtype="float32"))
    write_images(tmp_path / "imgs", 3)
    user = {"points": f"points:{tmp_path / 'p.npy'}", "folder": f"folder:{tmp_path / 'imgs'}",
            "unpaired": write_unpaired(tmp_path / "a", tmp_path / "b")}
    for name, spec in DATASETS.items():
        if name in ("mnist", "fashion-mnist", "cifar10"):  # torchvision files: not here
            assert spec.kind == "image"
            continue
        bundle = load_data(user.get(name, name), image_size=8 if spec.kind != "vector" else None,
                           cache_dir=str(tmp_path / "cache"))
        assert bundle.kind == spec.kind, name
