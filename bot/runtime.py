"""Start-up helpers shared by the CLI and the bot: the engine, progress bars, building a missing corpus."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable
from typing import TypeVar
from pathlib import Path

from index.backend import IndexBackend, LocalBackend
from index.engine import Engine, EngineSettings, Progress
from index.errors import IndexCorruptError, IndexMissingError, ModelMismatchError

from .settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")


def engine_settings(settings: Settings) -> EngineSettings:
    return EngineSettings(
        seeds_dir=settings.seeds_dir,
        retrieval=settings.retrieval(),
        max_question_chars=settings.max_question_chars,
        max_document_bytes=settings.max_upload_bytes,
    )


def make_backend(settings: Settings, index_dir: Path | None = None) -> IndexBackend:
    """The index backend INDEX_BACKEND names: the only place that chooses one."""
    if settings.index_backend == "local":
        return LocalBackend()
    import importlib.util

    from index.milvus_backend import MilvusConfig, MilvusUnavailableError
    from index.milvus_index import MilvusBackend

    uri = settings.milvus_uri or str(Path(index_dir or settings.index_dir) / "milvus.db")
    lite = "://" not in uri
    missing = [m for m in ("pymilvus", *(("milvus_lite",) if lite else ())) if importlib.util.find_spec(m) is None]
    if missing:
        raise MilvusUnavailableError(
            f"INDEX_BACKEND=milvus needs {' and '.join(missing)}: install them with "
            "`pip install 'newsqa[milvus]'`, or set INDEX_BACKEND=local")
    return MilvusBackend(MilvusConfig(uri=uri, token=settings.milvus_token, db_name=settings.milvus_db))


def make_engine(settings: Settings, index_dir: Path | None = None) -> Engine:
    """Open the index directory with the embedding model, which loads when first needed.

    With ENCODER=auto or onnx the model runs on ONNX Runtime from an export kept in
    ``<index dir>/models`` (made once, in a child process, the first time it is needed), so this
    process never imports torch; ENCODER=torch uses sentence-transformers.
    """
    from index.embed import ModelEncoder

    index_dir = Path(index_dir or settings.index_dir)
    encoder = ModelEncoder(settings.embed_model, backend=settings.encoder, models_dir=index_dir / "models")
    from .stores import open_corpora

    backend = make_backend(settings, index_dir)
    corpora = open_corpora(settings, index_dir, backend)
    adopt = getattr(corpora, "adopt_all", None)
    if adopt is not None:  # corpora this host built before SHARE_CORPORA move into the database once
        for name in adopt(timeout=EngineSettings().lock_timeout):
            log.info("corpus %s now lives in %s", name, corpora.where)
    return Engine(index_dir, encoder, engine_settings(settings), backend=backend, corpora=corpora)


def load_model(engine: Engine) -> None:
    """Load the embedding model now (on the very first run, exporting it to ONNX: ~30 s), so that the
    bot's first question does not wait for it."""
    load = getattr(engine.encoder, "load", None)
    if load is not None:
        load()


def freeze_startup_heap() -> int:
    """Exempt every object alive after start-up from the garbage collector's scans; returns their number.

    Start-up leaves ~76,000 objects that live as long as the bot (modules, discord.py's classes, the
    libraries' tables) and every full collection scanned them all again, on the event loop's thread:
    64-86 ms each on a busy machine (bench/bench_runtime.py, ``bot_full_gc_ms``), ~0 once frozen. They are
    still freed by reference counting if they die (a replaced index generation is); only reference
    cycles among them would stay.
    """
    gc.collect()  # what is garbage now is collected, not frozen
    gc.freeze()
    return gc.get_freeze_count()


def tqdm_progress(enabled: bool) -> tuple[Progress | None, Callable[[], None]]:
    """A progress callback drawing a tqdm bar on stderr when ``enabled``, and a function to close it."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="sent", file=sys.stderr, leave=False)
        bar.n = done
        bar.refresh()

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return progress, close


def with_progress(work: Callable[[Progress | None], T], *, enabled: bool) -> T:
    """Run ``work(progress)`` with a progress bar on stderr when ``enabled`` and stderr is a terminal."""
    progress, close = tqdm_progress(enabled and sys.stderr.isatty())
    try:
        return work(progress)
    finally:
        close()


def ensure_corpus(engine: Engine, corpus: str, *, quiet: bool = False, rebuild_broken: bool = False) -> None:
    """Build a corpus from the seeds when it has no index yet, saying so on stderr.

    With ``rebuild_broken``, a corrupt index or one built with another model is rebuilt from its
    sources (after saying why); otherwise that error is raised with the command that rebuilds it.
    """
    if engine.has_corpus(corpus):
        try:
            engine.index(corpus)
            return
        except (IndexCorruptError, ModelMismatchError) as exc:
            if not rebuild_broken:
                raise
            log.error("%s", exc)
            print(f"The index is unusable ({exc}).\nRebuilding it from its sources now ...", file=sys.stderr)
        with_progress(lambda progress: engine.build(corpus, progress=progress), enabled=not quiet)
        return
    if not quiet:
        print(f"No index for corpus {corpus!r} yet: building it from {engine.settings.seeds_dir}/ ...", file=sys.stderr)
    with_progress(lambda progress: engine.ensure(corpus, progress=progress), enabled=not quiet)
    if not engine.has_corpus(corpus):  # pragma: no cover - ensure() raises on failure
        raise IndexMissingError(f"corpus {corpus!r} could not be built")
