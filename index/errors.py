"""Errors raised by the retrieval core. Each message says what was wrong and what to do."""

from __future__ import annotations


class NewsQAError(Exception):
    """Base class for every error the core raises on purpose."""


class IndexMissingError(NewsQAError):
    """No built index exists for a corpus."""


class IndexCorruptError(NewsQAError):
    """An index exists but cannot be read."""


class ModelMismatchError(NewsQAError):
    """The index was built with another embedding model or format version."""


class UnsupportedDocumentError(NewsQAError):
    """A file or URL cannot be turned into an article: wrong type, binary, not UTF-8, no sentences."""


class DocumentTooLargeError(UnsupportedDocumentError):
    """A file or download is over the configured size cap."""


class FetchError(NewsQAError):
    """A URL could not be fetched, or was refused (scheme, private address, content type)."""


class FeedError(NewsQAError):
    """A URL is not a usable feed, or a feed operation was refused (limit reached, unknown feed)."""


class DocumentNotFoundError(NewsQAError):
    """No document with the given id exists in the corpus."""


class InvalidQuestionError(NewsQAError):
    """A question is empty or too long."""


class BusyError(NewsQAError):
    """Another writer holds the corpus lock and waiting was not allowed."""


class IndexWriteError(NewsQAError):
    """A build, add or remove could not write the index (disk full, read-only); the index is unchanged."""


class DuplicateDocumentError(UnsupportedDocumentError):
    """A document with the same text is already in the corpus."""


class EncoderError(NewsQAError):
    """The ONNX encoder cannot be exported or loaded; the message says why."""
