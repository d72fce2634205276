"""The sentence-transformers model run by ONNX Runtime: questions answered without torch in the process.

The model is exported once, from its own weights, by ``torch.onnx.export`` in a child process (so the
process that asked never imports torch), into ``<models_dir>/<name>-<fingerprint>/``:

    model.onnx       the whole sentence-transformers pipeline (transformer, pooling, normalization)
    model.onnx.data  its weights, kept apart so ONNX Runtime memory-maps them
    tokenizer.json   the model's own fast tokenizer, run by the ``tokenizers`` library
    export.json      written last: checksums of both files, the tokenizer settings, the dimension

The fingerprint names the model folder's contents (small files by content, weight files by size and
modification time), so a changed model is exported afresh. Before the export is accepted, the child
checks that ONNX Runtime's vectors match sentence-transformers' (cosine >= MIN_COSINE) on probe texts.
Every load checks both checksums; a damaged export is reported, set aside and made again.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .errors import EncoderError

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1
MANIFEST = "export.json"
WEIGHTS = "model.onnx.data"
MIN_COSINE = 0.9999
# Batches of 16 sentences, sorted by length: ONNX Runtime pads each batch to its longest sentence and
# gains nothing from bigger batches on CPU (16: 64 sentences/s vs 64: 56 on SQuAD, one thread each).
BATCH = 16
SMALL_FILE = 1 << 20  # files up to this size enter the fingerprint by content; bigger ones by size and mtime
PROBES = (
    "Who is the NATO Secretary General?",
    "How much did European allies and Canada invest in defense in 2024?",
    "  Leading and trailing spaces are stripped, as sentence-transformers does.  ",
    "Ünïcödé, emoji 🚀, Chinese 北京 and numbers like 3.5% or $1,000,000 all tokenize.",
    "x",
    " ".join(["A very long sentence that is cut at the model's maximum sequence length."] * 40),
)
_INPUT_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


# ----------------------------------------------------------------------------- finding an export


def fingerprint(model_path: Path) -> str:
    """A digest naming a model folder's contents, cheap enough for every start (weights are not read)."""
    if not model_path.is_dir():
        raise EncoderError(f"the ONNX export needs a model folder; {model_path} is not one")
    digest = hashlib.sha256(f"newsqa-onnx-export-{EXPORT_FORMAT}".encode())
    for path in sorted(p for p in model_path.rglob("*") if p.is_file()):
        rel = path.relative_to(model_path).as_posix()
        if rel in ("README.md", ".gitattributes") or rel.startswith((".", "__pycache__")):
            continue
        stat = path.stat()
        digest.update(f"\x00{rel}\x00{stat.st_size}\x00".encode())
        if stat.st_size <= SMALL_FILE:
            digest.update(path.read_bytes())
        else:
            digest.update(str(stat.st_mtime_ns).encode())
    return digest.hexdigest()


def export_dir(models_dir: Path, model_path: Path, name: str) -> Path:
    """Where the export of this model (as it is now) lives."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
    return Path(models_dir) / f"{safe}-{fingerprint(model_path)[:16]}"


def read_manifest(folder: Path) -> dict | None:
    """The export's manifest, or None when there is no complete export in ``folder``."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise EncoderError(f"{folder / MANIFEST} is unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        return None
    return manifest


def ensure_export(model_path: Path, models_dir: Path, name: str, *, timeout: float = 1800.0) -> Path:
    """The folder of a verified-complete export of ``model_path``, exporting it first if needed.

    Exporting runs ``python -m index.onnx_encoder`` in a child process (it imports torch) under a lock
    in ``models_dir``, so concurrent processes export once; a damaged export is set aside and redone.
    """
    model_path = Path(model_path)
    folder = export_dir(models_dir, model_path, name)
    if read_manifest(folder) is not None:
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with _lock(folder.parent / ".export.lock"):
            return _export_locked(model_path, folder, name, timeout)
    except OSError as exc:
        raise EncoderError(f"cannot write the ONNX export to {folder.parent} ({exc})") from None


def _export_locked(model_path: Path, folder: Path, name: str, timeout: float) -> Path:
    """Export into a temporary folder and rename it into place (the caller holds the export lock)."""
    if read_manifest(folder) is not None:  # another process exported it while we waited
        return folder
    if folder.exists():  # a leftover without a manifest: never completed
        shutil.rmtree(folder)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("exporting %s to ONNX once, so answers need no torch (takes ~10-30 s) ...", name)
    started = time.perf_counter()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "index.onnx_encoder", str(model_path), str(tmp), "--name", name],
            env=env, capture_output=True, text=True, timeout=timeout,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise EncoderError(f"exporting {name} to ONNX failed: {tail}")
        from .store import fsync_tree

        fsync_tree(tmp)
        os.replace(tmp, folder)
    except subprocess.TimeoutExpired:
        raise EncoderError(f"exporting {name} to ONNX took over {timeout:.0f} s and was stopped") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("ONNX export of %s ready in %.1f s: %s", name, time.perf_counter() - started, folder)
    return folder


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def set_aside(folder: Path) -> Path:
    """Move a damaged export out of the way (kept for inspection); the next load exports afresh."""
    aside = folder.with_name(f"{folder.name}.corrupt-{int(time.time())}")
    os.replace(folder, aside)
    return aside


def load(model_path: Path, models_dir: Path, name: str) -> OnnxEncoder:
    """The ONNX encoder for a model: exported first if needed; a damaged export is set aside and redone."""
    folder = ensure_export(model_path, models_dir, name)
    try:
        return OnnxEncoder(folder)
    except EncoderError as exc:
        aside = set_aside(folder)
        log.error("%s; moved it to %s and exporting afresh", exc, aside)
    return OnnxEncoder(ensure_export(model_path, models_dir, name))


# ----------------------------------------------------------------------------- the encoder


def _file_sha256(path: Path) -> str:
    """Streamed, so checking the 90 MB of weights adds nothing to the process's memory (~0.1 s)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class OnnxEncoder:
    """Encodes with ONNX Runtime and ``tokenizers``: no torch, no sentence-transformers.

    One inference session with one intra-op thread (a single question gains nothing from more, and
    pays dearly when the other core is busy); bulk encoding runs batches on ``workers`` threads over
    the same session (ONNX Runtime's ``run`` is thread-safe), so no second copy of the weights.
    """

    def __init__(self, folder: Path, *, workers: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        manifest = read_manifest(folder)
        if manifest is None:
            raise EncoderError(f"no complete ONNX export in {folder}")
        try:
            for file, digest in manifest["sha256"].items():
                if _file_sha256(folder / file) != digest:
                    raise EncoderError(f"{folder / file} does not match its checksum in {MANIFEST}: the export is damaged")
            self.name: str = manifest["name"]
            self.dimension: int = int(manifest["dimension"])
            self._inputs: list[str] = list(manifest["inputs"])
            self._lower: bool = bool(manifest["do_lower_case"])
            self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            self._tokenizer.enable_truncation(max_length=int(manifest["max_seq_length"]))
            self._tokenizer.enable_padding(pad_id=int(manifest["pad_id"]), pad_token=manifest["pad_token"])
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.log_severity_level = 3  # warnings about unused initializers etc. are not the user's concern
            # Loaded by path: the weights (external data) are memory-mapped, not copied (RSS +83 MB vs +146 MB
            # for one file, +230 MB when passed as bytes), and only the embedding rows in use are paged in.
            self._session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
            # ONNX Runtime keeps the activations of its largest run in its memory arena for good: after
            # encoding batches of long sentences (building, or an article added in the bot) the process
            # stayed at ~545 MiB instead of ~140. Batches give their memory back when they finish
            # (~200 MiB after the same batches; bench/bench_runtime.py); a lone question keeps the
            # arena, which then holds one question's activations (it is what answers fast).
            self._bulk_options = ort.RunOptions()
            self._bulk_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        except EncoderError:
            raise
        except Exception as exc:  # missing file, bad manifest field, tokenizer or graph ONNX Runtime refuses
            raise EncoderError(f"the ONNX export in {folder} cannot be loaded ({type(exc).__name__}: {exc})") from exc
        self.folder = folder
        self._workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t.strip().lower() if self._lower else t.strip() for t in texts]
        encodings = self._tokenizer.encode_batch(texts)
        feeds = {name: np.array([getattr(e, _INPUT_FIELDS[name]) for e in encodings], dtype=np.int64)
                 for name in self._inputs}
        options = self._bulk_options if len(texts) > 1 else None
        out = self._session.run(None, feeds, options)[0].astype(np.float32, copy=False)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = BATCH,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """L2-normalized vectors for ``texts``; ``progress`` is called with the number done after each batch."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) <= batch_size:
            out = self._run(texts)
            if progress:
                progress(len(texts))
            return out
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # little padding within a batch
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        parts = self._executor().map(lambda ids: self._run([texts[j] for j in ids]), batches)
        for ids, part in zip(batches, parts):
            out[ids] = part
            if progress:
                progress(len(ids))
        return out

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="onnx-encode")
            return self._pool


# ----------------------------------------------------------------------------- the export (child process)


def export(model_path: Path, out: Path, name: str) -> dict:
    """Export ``model_path`` (a sentence-transformers folder) into ``out``; imports torch.

    The traced graph is the model's whole module pipeline, so pooling and normalization are the
    model's own. The export is verified against sentence-transformers before the manifest is written.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path), device="cpu").eval()
    first = model[0]
    tokenizer = getattr(first, "tokenizer", None)
    source = Path(model_path) / "tokenizer.json"
    if not source.is_file() or tokenizer is None:
        raise EncoderError(f"{model_path} has no tokenizer.json (a fast tokenizer is needed without torch)")
    sample = model.tokenize(list(PROBES[:2]))
    inputs = [k for k, v in sample.items() if isinstance(v, torch.Tensor)]
    unknown = [k for k in inputs if k not in _INPUT_FIELDS]
    if unknown:
        raise EncoderError(f"the model takes inputs {unknown} that the ONNX encoder does not know how to make")

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(inputs, args)))["sentence_embedding"]

    out.mkdir(parents=True, exist_ok=True)
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about python-side checks of constant shapes
        torch.onnx.export(
            Pipeline().eval(), tuple(sample[k] for k in inputs), str(out / "model.onnx"),
            input_names=inputs, output_names=["sentence_embedding"],
            dynamic_axes={**{k: {0: "batch", 1: "tokens"} for k in inputs}, "sentence_embedding": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    import onnx  # re-saved with the weights in a separate file, which ONNX Runtime memory-maps

    graph = onnx.load(str(out / "model.onnx"))
    onnx.save_model(graph, str(out / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=WEIGHTS, size_threshold=1024)
    del graph
    shutil.copyfile(source, out / "tokenizer.json")
    manifest = {
        "format": EXPORT_FORMAT,
        "name": name,
        "dimension": int(model.get_embedding_dimension()),
        "inputs": inputs,
        "max_seq_length": int(model.max_seq_length),
        "do_lower_case": bool(getattr(first, "do_lower_case", False)),
        "pad_id": int(tokenizer.pad_token_id or 0),
        "pad_token": str(tokenizer.pad_token or "[PAD]"),
        "sha256": {f: _file_sha256(out / f) for f in ("model.onnx", WEIGHTS, "tokenizer.json")},
        "torch": torch.__version__,
        "opset": 17,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    probe = list(PROBES)
    expected = model.encode(probe, normalize_embeddings=True, convert_to_numpy=True, batch_size=4)
    got = OnnxEncoder(out, workers=1).encode(probe, batch_size=4)
    cosine = float((expected * got).sum(axis=1).min())
    if cosine < MIN_COSINE:
        (out / MANIFEST).unlink()
        raise EncoderError(f"ONNX vectors differ from sentence-transformers' (min cosine {cosine:.6f} < {MIN_COSINE})")
    manifest["verified_min_cosine"] = round(cosine, 7)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export a sentence-transformers model folder to ONNX (run by ensure_export).")
    parser.add_argument("model_path", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    try:
        manifest = export(args.model_path, args.out, args.name)
    except EncoderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
