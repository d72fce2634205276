"""The Discord layer and the command line of newsqa."""

from __future__ import annotations

from typing import Any


def create_bot(*args: Any, **kwargs: Any):  # noqa: ANN201 - re-exported factory
    """Build the Discord bot without connecting (see ``bot.app.create_bot``)."""
    from .app import create_bot as _create_bot  # discord is imported only when a bot is wanted

    return _create_bot(*args, **kwargs)
