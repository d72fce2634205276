"""INDEX_BACKEND: local by default; milvus (issue 14, experimental) is refused with what to do."""

from __future__ import annotations

import pytest

from bot.settings import SettingsError, load_settings


@pytest.mark.parametrize("raw", ["", "local", " LOCAL "])
def test_local_backend_is_the_default(raw: str) -> None:
    assert load_settings(None, {"INDEX_BACKEND": raw}).index_backend == "local"


def test_milvus_backend_is_refused_until_it_answers() -> None:
    with pytest.raises(SettingsError, match="INDEX_BACKEND=milvus is experimental.*INDEX_BACKEND=local"):
        load_settings(None, {"INDEX_BACKEND": "milvus", "MILVUS_URI": "http://localhost:19530"})


def test_unknown_backend_names_the_choices() -> None:
    with pytest.raises(SettingsError, match="INDEX_BACKEND='faiss' is not one of local, milvus"):
        load_settings(None, {"INDEX_BACKEND": "faiss"})
