"""Freed memory goes back to the operating system after every index write (glibc's malloc_trim)."""

from __future__ import annotations

import platform

import pytest

import index.engine
from index.documents import load_text
from index.engine import Engine
from index.errors import IndexWriteError
from index.memory import release_free_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_release_free_memory_trims_the_c_heap() -> None:
    assert release_free_memory() is True


def test_every_write_releases_its_memory(fake_engine: Engine, monkeypatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(index.engine, "release_free_memory", lambda: calls.append(1) or True)
    fake_engine.add([load_text("The harbour budget grew by 5% in 2024.", title="Harbour", doc_id="h1")])
    assert calls == [1]
    fake_engine.remove("h1")
    fake_engine.build()
    assert calls == [1, 1, 1]


def test_a_failed_write_releases_its_memory_too(fake_engine: Engine, monkeypatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(index.engine, "release_free_memory", lambda: calls.append(1) or True)

    def fail(*args, **kwargs):  # noqa: ANN002, ANN003
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fake_engine, "_write_new", fail)
    before = [d.doc_id for d in fake_engine.documents()]
    with pytest.raises(IndexWriteError, match="is full: the write failed"):
        fake_engine.add([load_text("The harbour budget grew by 5% in 2024.", title="Harbour", doc_id="h1")])
    assert calls == [1]
    assert [d.doc_id for d in fake_engine.documents()] == before
