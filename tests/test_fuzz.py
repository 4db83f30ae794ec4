"""Property tests: whatever a user types or feeds in, genlab answers with a result or a GenlabError.

- ``--set`` overrides and YAML config files: random keys and values either resolve to a
  valid, validated TrainConfig or raise a GenlabError, never another exception;
- points files: random CSV text, random bytes and random arrays either load as a finite
  float32 (N >= 2, D >= 1) array or raise BadInputError.

Each test counts the examples it ran (printed with ``pytest -s``).
"""

from __future__ import annotations

import dataclasses
import io
import os
import string
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from genlab.config import TrainConfig, load_yaml, resolve, split_overrides
from genlab.data.points import read_points
from genlab.errors import BadInputError, GenlabError
from genlab.models import MODELS

from helpers import scratch_file

COUNTS: Counter = Counter()
# GENLAB_FUZZ_EXAMPLES=5000 for a longer hunt; 300 keeps the suite fast
FUZZ = settings(max_examples=int(os.environ.get("GENLAB_FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# ----------------------------------------------------------------------------- config overrides

TRAIN_KEYS = [f.name for f in dataclasses.fields(TrainConfig)]
MODEL_KEYS = sorted({f.name for cls in MODELS.values() for f in dataclasses.fields(cls.Config)})
TRICKY = ["", "0", "-1", "1e-4", "1e999", "-1e999", ".nan", "nan", "inf", "1_000", "0x1F", "2.5", "true", "no",
          "null", "~", "[]", "[1, 2]", "[0.5, 0.9]", "{a: 1}", "{}", "2001-01-01", "12:30", "!!python/object:os.system",
          "&a x", "*a", "'quoted'", "\"dq\"", "a: b", "- x", "?", "|", ">", "%", "@", "`", "9" * 400, "-0", "+3",
          "stop", "skip", "csv", "tensorboard", "minimax", "32-true", "cpu", "auto"]

keys = st.one_of(st.sampled_from(TRAIN_KEYS), st.sampled_from(MODEL_KEYS),
                 st.sampled_from(MODEL_KEYS).map(lambda k: "model." + k), st.text(max_size=12))
values = st.one_of(st.sampled_from(TRICKY), st.text(max_size=20),
                   st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True).map(repr))


def _typed(f: dataclasses.Field):
    """Values of the field's own type, mostly in range: they reach the checks past type coercion."""
    choices = f.metadata.get("choices")
    tp = f.type if isinstance(f.type, str) else f.type.__name__
    if choices:
        return st.sampled_from(list(choices))
    return {"int": st.integers(-2, 300).map(str), "float": st.floats(-0.1, 2.0).map(repr),
            "bool": st.sampled_from(["true", "false", "yes", "0"]), "str": st.sampled_from(["", "x"])}.get(tp, values)


FIELDS = {f.name: f for cls in [TrainConfig, *(c.Config for c in MODELS.values())] for f in dataclasses.fields(cls)
          if f.name not in ("model", "data", "model_args", "devices", "accelerator", "precision", "root", "download")}
typed_pairs = st.sampled_from(sorted(FIELDS)).flatmap(lambda k: _typed(FIELDS[k]).map(lambda v: f"{k}={v}"))
pairs = st.one_of(st.tuples(keys, values).map(lambda kv: f"{kv[0]}={kv[1]}"), st.text(max_size=20), typed_pairs,
                  typed_pairs)


def _check_config(cfg: TrainConfig, model: str) -> None:
    assert isinstance(cfg, TrainConfig)
    assert cfg.steps > 0 and cfg.batch_size > 0 and cfg.lr >= 0 and cfg.keep_last > 0
    cls = MODELS[model]
    cls.Config(**cfg.model_args)  # the saved model settings rebuild the model's Config


@FUZZ
@given(model=st.sampled_from(sorted(MODELS)), overrides=st.lists(pairs, max_size=4))
def test_overrides_give_a_config_or_a_genlab_error(model, overrides):
    COUNTS["overrides"] += 1
    try:
        values = split_overrides(overrides)
        values.update(model=model, data="grid25")
        cfg = resolve(MODELS[model], values)
    except GenlabError:
        COUNTS["overrides: GenlabError"] += 1
        return
    COUNTS["overrides: valid"] += 1
    _check_config(cfg, model)


yaml_docs = st.one_of(
    st.text(max_size=80),
    st.lists(st.tuples(keys, values), max_size=6).map(lambda kv: "\n".join(f"{k}: {v}" for k, v in kv)),
    st.lists(st.tuples(st.sampled_from(MODEL_KEYS), values), max_size=4)
      .map(lambda kv: "model_args:\n" + "\n".join(f"  {k}: {v}" for k, v in kv)),
)


@FUZZ
@given(model=st.sampled_from(sorted(MODELS)), doc=yaml_docs)
def test_yaml_config_files_give_a_config_or_a_genlab_error(model, doc, tmp_path_factory):
    COUNTS["yaml"] += 1
    path = scratch_file(tmp_path_factory, "c.yaml")
    path.write_text(doc, encoding="utf-8", errors="surrogatepass") if _encodable(doc) else path.write_bytes(b"\xff")
    try:
        values = load_yaml(path)
        values.update(model=model, data="grid25")
        cfg = resolve(MODELS[model], values)
    except GenlabError:
        COUNTS["yaml: GenlabError"] += 1
        return
    COUNTS["yaml: valid"] += 1
    _check_config(cfg, model)


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


# ----------------------------------------------------------------------------- points files


def _check_points(path: Path, kind: str) -> np.ndarray | None:
    COUNTS[kind] += 1
    try:
        x = read_points(path)
    except BadInputError as e:
        assert "\n" not in str(e)
        COUNTS[f"{kind}: BadInputError"] += 1
        return None
    COUNTS[f"{kind}: loaded"] += 1
    assert x.dtype == np.float32 and x.ndim == 2 and x.shape[0] >= 2 and x.shape[1] >= 1
    assert np.isfinite(x).all()
    return x


CELL_CHARS = "".join(c for c in string.printable if c not in '",\r\n')
cells = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
                  st.integers(-10**30, 10**30).map(str),
                  st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "1e39", "1_0", "0x10", "abc", " 7 ",
                                   "１", "1e-50", "--1", "+.5", ".", "e5"]),
                  st.text(CELL_CHARS, max_size=6))  # quotes and separators are left to the raw-bytes test
rows = st.lists(st.lists(cells, min_size=1, max_size=4), max_size=8)
numbers = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr), st.integers(-999, 999).map(str))
# mostly rectangular tables of numbers, now and then one odd cell: they reach the success path
rect = st.tuples(st.integers(1, 4), st.integers(0, 8)).flatmap(
    lambda nm: st.lists(st.lists(st.one_of(numbers, numbers, numbers, numbers, numbers, numbers, cells),
                                 min_size=nm[0], max_size=nm[0]), min_size=nm[1], max_size=nm[1]))


@FUZZ
@given(table=st.one_of(rows, rect), header=st.booleans(), sep=st.sampled_from(["\n", "\r\n"]))
def test_csv_tables_load_or_raise_bad_input(table, header, sep, tmp_path_factory):
    path = scratch_file(tmp_path_factory, "p.csv")
    lines = ([",".join("col" + str(i) for i in range(len(table[0])))] if header and table else [])
    lines += [",".join(r) for r in table]
    path.write_text(sep.join(lines), encoding="utf-8")
    x = _check_points(path, "csv")
    if x is not None:  # what loaded is exactly the numbers that were written
        body = [r for r in table if any(c.strip() for c in r)]
        if not header and body and not any(_num(c) for c in body[0]):
            body = body[1:]  # a first row of non-numbers is read as a header
        assert x.shape == (len(body), len(body[0]))
        expect = np.array([[float(c) for c in r] for r in body], dtype=np.float64).astype(np.float32)
        assert np.array_equal(x, expect)


def _num(c: str) -> bool:
    try:
        float(c.strip())
        return True
    except ValueError:
        return False


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass"))),
       suffix=st.sampled_from([".csv", ".npy"]))
def test_random_bytes_load_or_raise_bad_input(data, suffix, tmp_path_factory):
    path = scratch_file(tmp_path_factory, f"p{suffix}")
    path.write_bytes(data)
    _check_points(path, f"bytes{suffix}")


dtypes = st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(), hnp.boolean_dtypes(),
                   hnp.complex_number_dtypes(), hnp.datetime64_dtypes(), hnp.unicode_string_dtypes(max_len=3))
arrays = st.one_of(
    hnp.arrays(dtype=dtypes, shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)),
    hnp.arrays(dtype=st.sampled_from(["<f2", "<f4", ">f8", "<i8", "|u1", "|b1"]),  # numeric (N, D) tables
               shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6)),
)


@FUZZ
@given(array=arrays, cut=st.one_of(st.none(), st.none(), st.integers(0, 200)),
       flip=st.one_of(st.none(), st.none(), st.integers(0, 200)))
def test_random_npy_arrays_load_or_raise_bad_input(array, cut, flip, tmp_path_factory):
    path = scratch_file(tmp_path_factory, "p.npy")
    buf = io.BytesIO()
    np.save(buf, array)
    data = bytearray(buf.getvalue())
    if flip is not None and flip < len(data):  # damage one byte (header or data)
        data[flip] ^= 0xFF
    if cut is not None:  # or lose the tail
        data = data[:cut]
    path.write_bytes(bytes(data))
    x = _check_points(path, "npy")
    if x is not None and cut is None and flip is None:
        assert np.array_equal(x, array.astype(np.float32))


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    print("\nfuzz examples: " + ", ".join(f"{k}={v}" for k, v in sorted(COUNTS.items())))
