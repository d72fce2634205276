"""The learned ranker evaluated without lightgbm (index.ranker.TreeEnsemble): the same scores as lightgbm's
own Booster, bit for bit, and an answering process that imports neither lightgbm nor scipy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index import ranker
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from index.imports import import_without
from index.search import FEATURES

from .conftest import ROOT, SEEDS, read_jsonl, DATA

lightgbm = pytest.importorskip("lightgbm")


def _edge_rows(model: Path, width: int) -> np.ndarray:
    """Rows at and around every threshold of the model (as the float32 features are), and odd values."""
    thresholds = sorted({float(t) for line in model.read_text().splitlines() if line.startswith("threshold=")
                         for t in line.split("=", 1)[1].split()})
    values = np.array(thresholds, dtype=np.float32)
    near = np.concatenate([values, np.nextafter(values, np.float32(np.inf)), np.nextafter(values, np.float32(-np.inf)),
                           np.array([np.nan, 0.0, -0.0, 1e-40, -1e-40, 1e-30, np.inf, -np.inf, 1e30, -1e30],
                                    dtype=np.float32)])
    rng = np.random.default_rng(3)
    rows = rng.choice(near, size=(4000, width)).astype(np.float32)
    rows[:, ::2] = rng.random((4000, (width + 1) // 2), dtype=np.float32)  # some columns ordinary values
    return rows


def _same(model: Path, rows: np.ndarray) -> None:
    ours = ranker.TreeEnsemble.load(model).predict(rows)
    theirs = lightgbm.Booster(model_file=str(model)).predict(rows, num_threads=1)
    assert ours.dtype == np.float64 and ours.shape == theirs.shape
    assert np.array_equal(ours, theirs), f"{int((ours != theirs).sum())} of {len(rows)} rows differ"


def test_packaged_ranker_scores_as_lightgbm_does_bit_for_bit(fake_engine: Engine) -> None:
    # Real candidate features (the engine's own, on the seed article) and rows at every threshold.
    idx = fake_engine.index("default")
    questions = [q["question"] for q in read_jsonl(DATA / "seed_questions.jsonl")]
    vectors = fake_engine.embed_questions(questions)
    real = np.vstack([idx.candidates(v, q, idx.settings.candidates).features for q, v in zip(questions, vectors)])
    cols = ranker.columns(FEATURES)
    assert len(real) > 100
    _same(ranker.MODEL_PATH, real[:, cols])
    _same(ranker.MODEL_PATH, _edge_rows(ranker.MODEL_PATH, len(cols)))
    assert ranker.TreeEnsemble.load(ranker.MODEL_PATH).predict(np.zeros((0, len(cols)), np.float32)).shape == (0,)


def _train(tmp_path: Path, name: str, x: np.ndarray, y: np.ndarray, data: dict | None = None, **params) -> Path:
    data = dict(data or {})
    if params.get("objective") == "lambdarank":
        data["group"] = [len(x) // 4] * 4
    booster = lightgbm.train({"verbose": -1, "deterministic": True, "num_threads": 1, "seed": 1, **params},
                             lightgbm.Dataset(x, y, **data), num_boost_round=20)
    path = tmp_path / f"{name}.txt"
    booster.save_model(str(path))
    return path


@pytest.mark.parametrize(("objective", "leaves", "rows"), [
    ("lambdarank", 15, 400),   # the shipped kind: 16-bit leaf masks
    ("regression", 31, 400),   # 32-bit masks
    ("regression", 60, 2000),  # 64-bit masks
    ("regression", 15, 30),    # too few rows to split: every tree is a single leaf
])
def test_other_tree_shapes_score_as_lightgbm_does(tmp_path: Path, objective: str, leaves: int, rows: int) -> None:
    rng = np.random.default_rng(leaves)
    x = rng.normal(size=(rows, 6)).astype(np.float32)
    y = (x[:, 0] + np.sin(3 * x[:, 1]) * x[:, 2] > 0.3).astype(int) if objective == "lambdarank" else x @ rng.normal(size=6)
    model = _train(tmp_path, objective, x, y, objective=objective, num_leaves=leaves, min_data_in_leaf=20)
    _same(model, rng.normal(size=(500, 6)).astype(np.float32))
    _same(model, _edge_rows(model, 6) if "threshold=" in model.read_text() else x)


@pytest.mark.parametrize(("case", "why"), [("missing values", "missing-value branches"), ("categorical", "categorical"),
                                         ("binary", "transforms its output"), ("many leaves", "more than 64 leaves")])
def test_models_it_does_not_evaluate_are_run_by_lightgbm(tmp_path: Path, case: str, why: str) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 4))
    y = x[:, 0] * 2 + x[:, 1]
    params: dict = {"objective": "regression", "num_leaves": 15}
    data: dict = {}
    if case == "missing values":
        x[rng.random(3000) < 0.3, 0] = np.nan  # lightgbm learns a branch for NaN
    elif case == "categorical":
        x[:, 1] = rng.integers(0, 6, 3000)
        y = y + 3 * (x[:, 1] % 2)
        data["categorical_feature"] = [1]
    elif case == "binary":
        y = (y > 0).astype(int)
        params["objective"] = "binary"  # its prediction is a sigmoid of the trees' sum
    else:
        params["num_leaves"], params["min_data_in_leaf"] = 90, 5
    model = _train(tmp_path, case.replace(" ", "-"), x, y, data, **params)
    with pytest.raises(ranker.UnsupportedModel, match=why):
        ranker.TreeEnsemble.load(model)
    loaded = ranker.load(model)
    assert isinstance(loaded, ranker.LightGBMModel)
    assert np.array_equal(loaded.predict(x[:50]), lightgbm.Booster(model_file=str(model)).predict(x[:50]))


def test_a_matrix_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="reads 21 features per row"):
        ranker.TreeEnsemble.load(ranker.MODEL_PATH).predict(np.zeros((3, 20), np.float32))


def test_answering_imports_neither_lightgbm_nor_scipy(tmp_path: Path) -> None:
    # Building imports scipy (paragraph means), so the index is built here and only answered from the child.
    index_dir = tmp_path / "index"
    engine = Engine(index_dir, HashingEncoder(), EngineSettings(seeds_dir=SEEDS))
    engine.ensure("default")
    engine.close()
    code = ("import sys\nfrom index.embed import HashingEncoder\nfrom index.engine import Engine, EngineSettings\n"
            f"engine = Engine({str(index_dir)!r}, HashingEncoder(), EngineSettings(seeds_dir=None))\n"
            "answer = engine.ask('How much did European allies and Canada invest in defense?', corpus='default')\n"
            "assert answer.hits\n"
            "print(sorted(m for m in ('lightgbm', 'scipy', 'pandas', 'sklearn') if sys.modules.get(m)))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_import_without_holds_back_optional_imports_only_while_importing(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "wants_extra.py").write_text("try:\n    import extra_lib\nexcept ImportError:\n    extra_lib = None\n")
    (tmp_path / "extra_lib.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("wants_extra", "extra_lib"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    module = import_without("wants_extra", ("extra_lib",))
    assert module.extra_lib is None and "extra_lib" not in sys.modules
    import extra_lib  # still importable afterwards

    assert extra_lib.VALUE == 1
    assert import_without("wants_extra", ("extra_lib",)) is module  # imported once
    monkeypatch.delitem(sys.modules, "wants_extra")
    assert import_without("wants_extra", ("extra_lib",)).extra_lib is extra_lib  # already imported: not held back
