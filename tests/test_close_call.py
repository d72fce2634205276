"""A close call: the best passage barely ahead of the next is said to be a guess, in every front end."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bot import console
from bot.records import answer_from_dict
from index.engine import Engine

QUESTION = "How much did allies in Europe and Canada invest in defense in 2024?"


def test_close_call_follows_the_ranker_margin(fake_engine: Engine) -> None:
    base = fake_engine.settings.retrieval
    try:
        fake_engine.use_retrieval(dataclasses.replace(base, close_call_margin=0.0))
        clear = fake_engine.ask(QUESTION)
        fake_engine.use_retrieval(dataclasses.replace(base, close_call_margin=1e9))
        close = fake_engine.ask(QUESTION)
    finally:
        fake_engine.use_retrieval(base)
    assert clear.answered and not clear.close_call
    assert close.close_call and len(close.hits) > 1
    assert [h.text for h in close.hits] == [h.text for h in clear.hits], "a close call changes the words, not the order"


def test_a_single_passage_is_never_a_close_call(fake_engine: Engine) -> None:
    base = fake_engine.settings.retrieval
    try:
        fake_engine.use_retrieval(dataclasses.replace(base, close_call_margin=1e9))
        answer = fake_engine.ask(QUESTION, k=1)
    finally:
        fake_engine.use_retrieval(base)
    assert len(answer.hits) == 1 and not answer.close_call


def test_close_call_survives_storage_and_shows_in_the_console(fake_engine: Engine) -> None:
    base = fake_engine.settings.retrieval
    try:
        fake_engine.use_retrieval(dataclasses.replace(base, close_call_margin=1e9))
        answer = fake_engine.ask(QUESTION)
    finally:
        fake_engine.use_retrieval(base)
    stored = answer.to_dict()
    assert stored["close_call"] is True
    assert answer_from_dict(stored).close_call is True
    text = console.format_answer(answer)
    assert text.startswith(console.CLOSE_CALL) and text.endswith("close call between passages")
    assert answer_from_dict({**stored, "close_call": False}).close_call is False
    plain = dict(stored)
    del plain["close_call"]  # answers stored before close calls existed
    assert answer_from_dict(plain).close_call is False


def test_close_call_margin_setting() -> None:
    import pytest

    from bot.settings import SettingsError, load_settings

    assert load_settings(None, {}).retrieval().close_call_margin == 0.3
    assert load_settings(None, {"CLOSE_CALL_MARGIN": "0"}).retrieval().close_call_margin == 0.0
    with pytest.raises(SettingsError, match="CLOSE_CALL_MARGIN=-1.0 is out of range"):
        load_settings(None, {"CLOSE_CALL_MARGIN": "-1"})
