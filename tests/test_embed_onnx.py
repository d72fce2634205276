"""The two encoders: ONNX Runtime (answers without torch) and sentence-transformers, on the real model.

The unit tests here load no model. The ``model`` tests export the packaged all-MiniLM-L6-v2 once per
session into a temporary folder, exactly as a first run does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.settings import SettingsError, load_settings
from index.embed import HashingEncoder, ModelEncoder, model_dimension, resolve_model
from index.engine import Engine, EngineSettings
from index.onnx_encoder import MANIFEST, WEIGHTS, EncoderError, OnnxEncoder, ensure_export, export_dir

from .conftest import DATA, ROOT, SEEDS, read_jsonl

MODEL_PATH = Path(resolve_model(None))
NAME = "all-MiniLM-L6-v2"


def _python(code: str, *, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a clean sys.modules) with this checkout first on the path."""
    full_env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-c", code], env=full_env, cwd=cwd, capture_output=True, text=True,
                          timeout=600)


HEAVY = ("torch", "sentence_transformers", "transformers", "onnxruntime")
LOADED_HEAVY = f"import sys; print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}), file=sys.stderr)"


# ----------------------------------------------------------------------------- no model


@pytest.mark.parametrize(("raw", "expected"), [("", "auto"), ("ONNX", "onnx"), ("torch", "torch"), (" auto ", "auto")])
def test_encoder_setting(raw: str, expected: str) -> None:
    assert load_settings(None, {"ENCODER": raw}).encoder == expected


def test_bad_encoder_setting_names_the_choices() -> None:
    with pytest.raises(SettingsError, match=r"ENCODER='gpu' is not one of auto, onnx, torch"):
        load_settings(None, {"ENCODER": "gpu"})


def test_model_dimension_is_read_from_the_model_folder() -> None:
    assert model_dimension(str(MODEL_PATH)) == 384


def test_model_dimension_unknown_for_unknown_modules(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text(json.dumps([{"idx": 0, "name": "0", "path": "", "type": "my.Custom"}]))
    assert model_dimension(str(tmp_path)) is None
    assert model_dimension(str(tmp_path / "missing")) is None


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        ModelEncoder(backend="tensorflow", models_dir=tmp_path)


def test_unwritable_models_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the models folder should go")
    with pytest.raises(EncoderError, match=r"not-a-folder.*ENCODER=torch"):
        ModelEncoder(backend="onnx", models_dir=blocker / "models").load()


def test_help_imports_no_numpy_faiss_or_model() -> None:
    done = _python("import sys\nfrom bot.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
                   "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'faiss', 'torch', 'onnxruntime', "
                   "'discord'}), file=sys.stderr)")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"


@pytest.fixture
def fake_built(tmp_path: Path) -> Path:
    """An index of the seeds built under the real model's name and size (by the hashing encoder)."""
    index_dir = tmp_path / "index"
    engine = Engine(index_dir, HashingEncoder(dimension=384, name=NAME), EngineSettings(seeds_dir=SEEDS))
    engine.ensure("default")
    engine.close()
    return index_dir


def test_listing_and_figures_load_no_model(fake_built: Path) -> None:
    encoder = ModelEncoder(backend="auto", models_dir=fake_built / "models")
    engine = Engine(fake_built, encoder, EngineSettings(seeds_dir=SEEDS))
    assert engine.documents("default") and engine.stats("default").sentences > 0
    assert any(f.text == "$485 billion" for f in engine.figures(corpus="default"))
    assert encoder.loaded is None
    assert not (fake_built / "models").exists(), "nothing was exported either"


@pytest.mark.parametrize("command", [["index", "list"], ["index", "stats"], ["figures"]])
def test_cli_read_commands_import_no_model(fake_built: Path, command: list[str]) -> None:
    done = _python(f"from bot.cli import main\nmain({command!r})\n{LOADED_HEAVY}",
                   env={"INDEX_DIR": str(fake_built), "SEEDS_DIR": str(SEEDS), "DISCORD_TOKEN": ""})
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


# ----------------------------------------------------------------------------- the real model

needs_model = pytest.mark.model


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """The packaged model exported once, as a first run does (child process, checksummed)."""
    folder = tmp_path_factory.mktemp("onnx") / "models"
    ensure_export(MODEL_PATH, folder, NAME)
    return folder


@pytest.fixture(scope="session")
def onnx_encoder(models_dir: Path) -> OnnxEncoder:
    return OnnxEncoder(export_dir(models_dir, MODEL_PATH, NAME))


def _texts() -> list[str]:
    sample = json.loads((DATA / "squad_sample.json").read_text(encoding="utf-8"))
    sentences = [s for p in sample["paragraphs"] for s in re.split(r"(?<=[.!?])\s+", p["context"])]
    questions = [q for p in sample["paragraphs"] for q in p["questions"]]
    questions += [c["question"] for c in read_jsonl(DATA / "seed_questions.jsonl")]
    questions += [c["question"] for c in read_jsonl(DATA / "out_of_scope.jsonl")]
    contexts = [p["context"] for p in sample["paragraphs"][:5]]  # some longer than 256 tokens: truncated alike
    return sentences + questions + contexts + ["  spaces around  ", "é", "数字 3.5% — “quotes”", "a " * 400]


@needs_model
def test_export_is_complete_and_checksummed(models_dir: Path) -> None:
    folder = export_dir(models_dir, MODEL_PATH, NAME)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert set(manifest["sha256"]) == {"model.onnx", WEIGHTS, "tokenizer.json"}
    assert manifest["dimension"] == 384 and manifest["max_seq_length"] == 256
    assert manifest["verified_min_cosine"] >= 0.9999
    assert not [p for p in models_dir.iterdir() if p.name.endswith(".tmp")]
    assert ensure_export(MODEL_PATH, models_dir, NAME) == folder  # reused, not exported again


@needs_model
def test_vectors_match_sentence_transformers(onnx_encoder: OnnxEncoder, real_encoder) -> None:
    texts = _texts()
    expected = real_encoder.encode(texts)
    batched = onnx_encoder.encode(texts)
    single = np.vstack([onnx_encoder.encode([t]) for t in texts[:40]])
    assert onnx_encoder.name == real_encoder.name and onnx_encoder.dimension == real_encoder.dimension
    assert (expected * batched).sum(axis=1).min() >= 0.9999
    assert (expected[:40] * single).sum(axis=1).min() >= 0.9999
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


@needs_model
def test_bulk_progress_counts_every_text(onnx_encoder: OnnxEncoder) -> None:
    texts = [f"Sentence number {i} about the harbour budget." for i in range(70)]
    seen: list[int] = []
    out = onnx_encoder.encode(texts, progress=seen.append)
    assert sum(seen) == 70 and out.shape == (70, 384)
    assert onnx_encoder.encode([]).shape == (0, 384)


@needs_model
def test_batches_give_their_memory_back_and_questions_keep_it(onnx_encoder: OnnxEncoder, monkeypatch) -> None:
    # ONNX Runtime's arena otherwise keeps the activations of the largest batch for good (~545 MiB after
    # a build's batches of long sentences; bench/bench_runtime.py measures the bot after an /add).
    runs: list[object] = []
    session = onnx_encoder._session

    class Recording:
        def run(self, names, feeds, options=None):  # noqa: ANN001
            runs.append(options)
            return session.run(names, feeds, options)

    monkeypatch.setattr(onnx_encoder, "_session", Recording())
    onnx_encoder.encode([f"Sentence {i} of an article about the harbour budget." for i in range(40)])
    assert runs and all(o is not None and o.get_run_config_entry("memory.enable_memory_arena_shrinkage") == "cpu:0"
                        for o in runs)
    runs.clear()
    onnx_encoder.encode(["Who pays for the harbour?"])
    assert runs == [None]


@needs_model
def test_damaged_export_is_refused_then_made_again(models_dir: Path, tmp_path: Path, monkeypatch) -> None:
    import index.onnx_encoder

    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    folder = export_dir(copy, MODEL_PATH, NAME)
    with open(folder / WEIGHTS, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\xff\xff\xff\xff")
    with pytest.raises(EncoderError, match="does not match its checksum"):
        OnnxEncoder(folder)
    exports = []
    real_export = index.onnx_encoder._export_locked

    def export_by_copy(model_path, target, name, timeout):  # the real export is tested above; skip its 30 s
        exports.append(target)
        shutil.copytree(export_dir(models_dir, MODEL_PATH, NAME), target)
        return real_export(model_path, target, name, timeout)  # finds the copy complete and keeps it

    monkeypatch.setattr(index.onnx_encoder, "_export_locked", export_by_copy)
    encoder = ModelEncoder(backend="onnx", models_dir=copy)
    assert encoder.encode(["Who is the NATO Secretary General?"]).shape == (1, 384)
    assert encoder.loaded == "onnx"
    assert list(copy.glob(f"{folder.name}.corrupt-*")), "the damaged export is kept aside"
    assert exports == [folder], "exported again once, after the damaged one was set aside"
    OnnxEncoder(folder)  # the new export is whole


@needs_model
def test_auto_falls_back_to_torch_when_the_export_fails(tmp_path: Path, monkeypatch, caplog) -> None:
    import index.onnx_encoder

    def fail(*args, **kwargs):
        raise EncoderError("exporting all-MiniLM-L6-v2 to ONNX failed: no space left on device")

    monkeypatch.setattr(index.onnx_encoder, "load", fail)
    auto = ModelEncoder(backend="auto", models_dir=tmp_path)
    assert auto.encode(["hello"]).shape == (1, 384)
    assert auto.loaded == "torch"
    assert "using sentence-transformers" in caplog.text
    with pytest.raises(EncoderError, match="no space left on device.*ENCODER=torch"):
        ModelEncoder(backend="onnx", models_dir=tmp_path).encode(["hello"])


@needs_model
def test_index_built_with_torch_answers_with_onnx(real_engine: Engine, models_dir: Path) -> None:
    onnx_engine = Engine(real_engine.index_dir, ModelEncoder(backend="onnx", models_dir=models_dir),
                         EngineSettings(seeds_dir=SEEDS))
    for case in read_jsonl(DATA / "seed_questions.jsonl") + read_jsonl(DATA / "out_of_scope.jsonl"):
        by_torch = real_engine.ask(case["question"])
        by_onnx = onnx_engine.ask(case["question"])
        assert [(h.doc_id, h.sentence) for h in by_onnx.hits] == [(h.doc_id, h.sentence) for h in by_torch.hits]
        assert by_onnx.answered == by_torch.answered
        assert by_onnx.confidence == pytest.approx(by_torch.confidence, abs=1e-3)
    assert onnx_engine.encoder.loaded == "onnx"


@needs_model
def test_cli_answers_without_torch(models_dir: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(models_dir, index_dir / "models")  # as left by an earlier run
    done = _python(f"from bot.cli import main\nmain(['ask', 'Who is the NATO Secretary General?', '--json'])\n"
                   f"{LOADED_HEAVY}",
                   env={"INDEX_DIR": str(index_dir), "SEEDS_DIR": str(SEEDS), "DISCORD_TOKEN": "", "ENCODER": "auto"})
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["answered"] and "Mark Rutte" in answer["hits"][0]["text"]
    assert done.stderr.strip().splitlines()[-1] == "['onnxruntime']", done.stderr


def test_bot_start_up_loads_the_model_before_the_first_question(tmp_path: Path, monkeypatch) -> None:
    import bot.runtime
    from bot import main
    from bot.settings import Settings

    class Lazy(HashingEncoder):
        loads = 0

        def load(self) -> HashingEncoder:
            Lazy.loads += 1
            return self

    monkeypatch.setattr(bot.runtime, "make_engine", lambda s, index_dir=None: Engine(
        s.index_dir, Lazy(), EngineSettings(seeds_dir=SEEDS)))
    engine, _ = main.prepare_bot(Settings(index_dir=tmp_path / "index", seeds_dir=SEEDS))
    engine.close()
    assert Lazy.loads == 1
