"""Giving memory the process has freed back to the operating system."""

from __future__ import annotations

import ctypes


def _malloc_trim():  # noqa: ANN202 - a ctypes function, or None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc; musl and macOS have none
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the operating system (glibc's ``malloc_trim``); False where the
    C library has no such call.

    glibc keeps what C code frees (ONNX Runtime's batches, numpy's arrays, the replaced index generation)
    for later allocations instead of returning it: a bot that had added one article stayed at 336 MiB,
    233 MiB once trimmed (bench/bench_runtime.py). Takes a few milliseconds.
    """
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
