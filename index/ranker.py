"""The learned ranker: LambdaMART (LightGBM) over the candidate features of index.search.

Trained by bench/tune_ranker.py on SQuAD-A's 5,665 questions and news-dev's 120 reader questions
(news-dev weighted 3 to 1: the held-out news-dev hit@1 was 0.558 at 3, 0.542 at 10), cross-validated by article before the final fit; the model file
(``index/models/ranker.txt``, a LightGBM text model, ~100 KB) ships with the package, so nothing is
trained or fetched at run time. It ranks a question's candidates; the linear fusion of
RetrievalSettings stays as the fallback (``RetrievalSettings.ranker = "linear"``).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).resolve().parent / "models" / "ranker.txt"
# Features the model reads, by name (columns of index.search.FEATURES), in this order.
EXCLUDED = ("heading", "bm25_raw", "bm25_paragraph_raw")

_lock = threading.Lock()
_boosters: dict[str, object] = {}


def _load(path: str | None):
    key = str(path or MODEL_PATH)
    with _lock:
        if key not in _boosters:
            _boosters[key] = _lightgbm().Booster(model_file=key)
    return _boosters[key]


def _lightgbm():
    """lightgbm, imported without scikit-learn: lightgbm imports sklearn whenever it is installed (for its
    estimator wrappers, unused here), which costs ~0.85 s and ~50 MiB on the answer path. Predicting with
    a Booster needs none of it; sklearn stays importable for anyone else afterwards."""
    import sys

    if "lightgbm" in sys.modules:
        return sys.modules["lightgbm"]
    blocked = "sklearn" not in sys.modules
    if blocked:
        sys.modules["sklearn"] = None  # makes lightgbm's optional `import sklearn` fail fast
    try:
        import lightgbm
    finally:
        if blocked:
            del sys.modules["sklearn"]
    return lightgbm


def columns(features: tuple[str, ...]) -> list[int]:
    """Positions in ``features`` of the model's inputs."""
    return [i for i, name in enumerate(features) if name not in EXCLUDED]


def score(matrix: np.ndarray, features: tuple[str, ...], model: str | None = None) -> np.ndarray:
    """Ranker scores of candidates (rows of ``matrix``, columns ``features``); higher is better.

    ``model`` is a LightGBM model file; the packaged ranker when None.
    """
    if not len(matrix):
        return np.zeros(0, dtype=np.float32)
    booster = _load(model)
    # LightGBM's own threads cost more than they save on ~100 rows.
    return np.asarray(booster.predict(matrix[:, columns(features)], num_threads=1), dtype=np.float32)
