"""The learned ranker: LambdaMART (LightGBM) over the candidate features of index.search.

Trained by bench/tune_ranker.py on SQuAD-A's 5,665 questions and news-dev's 120 reader questions
(news-dev weighted 3 to 1: the held-out news-dev hit@1 was 0.558 at 3, 0.542 at 10), cross-validated by article before the final fit; the model file
(``index/models/ranker.txt``, a LightGBM text model, ~100 KB) ships with the package, so nothing is
trained or fetched at run time. It ranks a question's candidates; the linear fusion of
RetrievalSettings stays as the fallback (``RetrievalSettings.ranker = "linear"``).

Answering does not import lightgbm: ``TreeEnsemble`` evaluates the model file's trees with numpy and gives
the raw scores lightgbm's ``Booster.predict`` gives, bit for bit (tests/test_ranker.py; bench/check_ranker.py:
all 461,003 candidate rows of SQuAD-A's and news-dev's 5,785 questions, packaged and fold models, 0.65 vs
0.70 ms per question). lightgbm and what it imports (scipy, narwhals; pandas and pyarrow when installed)
held a serving bot's RSS ~100 MiB higher (bench/bench_runtime.py). A model using what TreeEnsemble does not
implement (categorical splits, missing-value branches, more than 64 leaves, several classes, a transformed
output) is run by lightgbm itself.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).resolve().parent / "models" / "ranker.txt"
# Features the model reads, by name (columns of index.search.FEATURES), in this order.
EXCLUDED = ("heading", "bm25_raw", "bm25_paragraph_raw")

# lightgbm's optional imports that predicting with a Booster on a numpy matrix never uses: scikit-learn
# (its estimator wrappers: ~0.85 s and ~50 MiB) and pandas (DataFrame input; it brings pyarrow: ~80 MiB).
# lightgbm imports both whenever they are installed (pymilvus, an optional extra, installs pandas).
LIGHTGBM_OPTIONAL = ("sklearn", "pandas")
# lightgbm's kZeroThreshold (1e-35f): it reads an input this close to zero as 0.
ZERO = float(np.float32(1e-35))
# Objectives whose prediction is the raw sum of the trees (no sigmoid, exp or softmax applied).
RAW_OBJECTIVES = ("lambdarank", "rank_xendcg", "regression", "regression_l1", "huber", "fair", "quantile", "mape")


class Model(Protocol):
    def predict(self, matrix: np.ndarray) -> np.ndarray: ...


class UnsupportedModel(ValueError):
    """The model file uses something TreeEnsemble does not evaluate (lightgbm runs it instead)."""


class TreeEnsemble:
    """A LightGBM text model's trees, evaluated with numpy for a batch of rows.

    For each tree and each internal node, the leaves that stay possible when the row goes left, and when
    it goes right, are bit masks; AND-ing every node's mask leaves exactly one bit, the leaf the row
    reaches (the leaves under the nodes off its path are removed by the ancestor where it turned
    away). So all nodes of all trees are decided in one comparison, with no walk down the trees. The
    leaf values are summed in tree order in float64, as lightgbm does, so the scores are the same bits.
    """

    def __init__(self, feature: np.ndarray, threshold: np.ndarray, if_left: np.ndarray, if_right: np.ndarray,
                 leaf_value: np.ndarray, features: int) -> None:
        self.trees, self.nodes = feature.shape
        self.leaves = leaf_value.shape[1]
        self.features = features
        self._feature = feature.ravel()
        self._threshold = threshold.ravel()
        self._if_right = if_right.ravel()
        self._flip = (if_left ^ if_right).ravel()
        self._leaf_value = leaf_value.ravel()
        self._offset = np.arange(self.trees) * self.leaves

    @classmethod
    def load(cls, path: Path | str) -> TreeEnsemble:
        """Parse a LightGBM text model (``Booster.save_model``); UnsupportedModel when it uses what this
        class does not evaluate."""
        text = Path(path).read_text(encoding="utf-8")
        header, *blocks = text.split("\nTree=")
        head = _fields(header)
        if not blocks:
            raise UnsupportedModel(f"{path}: no trees")
        if head.get("num_class", "1") != "1" or head.get("num_tree_per_iteration", "1") != "1":
            raise UnsupportedModel(f"{path}: more than one class")
        if "average_output" in header.split("\n"):
            raise UnsupportedModel(f"{path}: averaged trees (random forest)")
        if head.get("objective", "").split(" ")[0] not in RAW_OBJECTIVES:
            raise UnsupportedModel(f"{path}: objective {head.get('objective')!r} transforms its output")
        trees = [_fields(block.split("\n\n")[0]) for block in blocks]
        leaves = max(int(t["num_leaves"]) for t in trees)
        if leaves > 64:
            raise UnsupportedModel(f"{path}: trees of more than 64 leaves")
        mask_type = next(t for t in (np.uint16, np.uint32, np.uint64) if np.iinfo(t).bits >= leaves)
        shape = (len(trees), max(leaves - 1, 1))
        feature = np.zeros(shape, dtype=np.intp)
        threshold = np.full(shape, np.inf)
        if_left = np.zeros(shape, dtype=mask_type)
        if_right = np.zeros(shape, dtype=mask_type)
        leaf_value = np.zeros((len(trees), leaves))
        for t, tree in enumerate(trees):
            count = int(tree["num_leaves"])
            if tree.get("is_linear", "0") != "0" or tree.get("num_cat", "0") != "0":
                raise UnsupportedModel(f"{path}: linear trees or categorical splits")
            leaf_value[t, :count] = _numbers(tree["leaf_value"], float)
            every = (1 << count) - 1
            if_left[t] = if_right[t] = every  # padding nodes keep every leaf whichever way they go
            if count == 1:
                continue
            if any(d != 2 for d in _numbers(tree["decision_type"], int)):
                # 2: numerical, missing values (NaN) read as 0; anything else is categorical or a missing branch.
                raise UnsupportedModel(f"{path}: categorical splits or missing-value branches")
            left, right = _numbers(tree["left_child"], int), _numbers(tree["right_child"], int)

            def under(child: int) -> int:  # bit mask of the leaves below a child (a leaf is ~index)
                return 1 << ~child if child < 0 else under(left[child]) | under(right[child])

            for node in range(count - 1):
                if_left[t, node] = every & ~under(right[node])
                if_right[t, node] = every & ~under(left[node])
            feature[t, : count - 1] = _numbers(tree["split_feature"], int)
            threshold[t, : count - 1] = _numbers(tree["threshold"], float)
        return cls(feature, threshold, if_left, if_right, leaf_value, int(head["max_feature_idx"]) + 1)

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Raw scores (float64) of the rows of ``matrix``, as lightgbm's ``Booster.predict`` gives them."""
        x = np.asarray(matrix, dtype=np.float64)  # lightgbm reads float32 input as double too
        if x.ndim != 2 or x.shape[1] != self.features:
            raise ValueError(f"the ranker model reads {self.features} features per row, got shape {x.shape}")
        x = np.where(np.isnan(x) | (np.abs(x) <= ZERO), 0.0, x)
        goes_left = x[:, self._feature] <= self._threshold
        masks = (self._if_right ^ (self._flip * goes_left)).reshape(len(x), self.trees, self.nodes)
        reached = np.bitwise_and.reduce(masks, axis=2)
        leaf = np.rint(np.log2(reached)).astype(np.intp)  # the single bit left: 2**i -> i
        values = self._leaf_value[self._offset + leaf]
        return np.cumsum(values.T, axis=0)[-1] if len(x) else np.zeros(0)  # in tree order, like lightgbm


def _fields(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.split("\n") if "=" in line)


def _numbers(text: str, kind: type) -> list:
    return [kind(v) for v in text.split()]


class LightGBMModel:
    """lightgbm's own Booster, for models TreeEnsemble does not evaluate."""

    def __init__(self, path: Path | str) -> None:
        from .imports import import_without

        self._booster = import_without("lightgbm", LIGHTGBM_OPTIONAL).Booster(model_file=str(path))

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        # LightGBM's own threads cost more than they save on ~100 rows.
        return self._booster.predict(matrix, num_threads=1)


_lock = threading.Lock()
_models: dict[str, Model] = {}


def load(path: Path | str | None = None) -> Model:
    """The model in ``path`` (the packaged ranker when None), loaded once per process."""
    key = str(path or MODEL_PATH)
    with _lock:
        if key not in _models:
            try:
                _models[key] = TreeEnsemble.load(key)
            except UnsupportedModel as exc:
                log.info("%s; evaluating it with lightgbm", exc)
                _models[key] = LightGBMModel(key)
        return _models[key]


def columns(features: tuple[str, ...]) -> list[int]:
    """Positions in ``features`` of the model's inputs."""
    return [i for i, name in enumerate(features) if name not in EXCLUDED]


def score(matrix: np.ndarray, features: tuple[str, ...], model: str | None = None) -> np.ndarray:
    """Ranker scores of candidates (rows of ``matrix``, columns ``features``); higher is better.

    ``model`` is a LightGBM model file; the packaged ranker when None.
    """
    if not len(matrix):
        return np.zeros(0, dtype=np.float32)
    return np.asarray(load(model).predict(matrix[:, columns(features)]), dtype=np.float32)
