"""INDEX_BACKEND: local by default; milvus with MILVUS_URI (default INDEX_DIR/milvus.db), chosen in one place."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bot.runtime import make_backend
from bot.settings import SettingsError, load_settings
from index.backend import LocalBackend
from index.errors import NewsQAError


@pytest.mark.parametrize("raw", ["", "local", " LOCAL "])
def test_local_backend_is_the_default(raw: str) -> None:
    settings = load_settings(None, {"INDEX_BACKEND": raw})
    assert settings.index_backend == "local"
    assert isinstance(make_backend(settings), LocalBackend)


def test_milvus_settings_are_read_and_the_token_never_printed() -> None:
    settings = load_settings(None, {"INDEX_BACKEND": "milvus", "MILVUS_URI": "http://milvus:19530",
                                    "MILVUS_TOKEN": "root:s3cret", "MILVUS_DB": "news"})
    assert (settings.index_backend, settings.milvus_uri, settings.milvus_db) == ("milvus", "http://milvus:19530", "news")
    assert settings.milvus_token == "root:s3cret" and "s3cret" not in repr(settings)


def test_a_milvus_uri_that_is_neither_a_file_nor_http_is_refused() -> None:
    with pytest.raises(SettingsError, match="MILVUS_URI='ftp://x' is neither a file path"):
        load_settings(None, {"INDEX_BACKEND": "milvus", "MILVUS_URI": "ftp://x"})


def test_milvus_backend_defaults_to_a_lite_file_in_the_index_dir(tmp_path: Path) -> None:
    settings = load_settings(None, {"INDEX_BACKEND": "milvus", "INDEX_DIR": str(tmp_path / "idx")})
    if importlib.util.find_spec("pymilvus") is None or importlib.util.find_spec("milvus_lite") is None:
        with pytest.raises(NewsQAError, match=r"pip install 'newsqa\[milvus\]'"):
            make_backend(settings)
        return
    backend = make_backend(settings)
    assert backend.name == "milvus" and backend.config.uri == str(tmp_path / "idx" / "milvus.db")


def test_unknown_backend_names_the_choices() -> None:
    with pytest.raises(SettingsError, match="INDEX_BACKEND='faiss' is not one of local, milvus"):
        load_settings(None, {"INDEX_BACKEND": "faiss"})
