"""Giving memory back: a call's decodes leave freed buffers of every size in glibc's arenas
(CTranslate2 and onnxruntime allocate per utterance), which the process keeps unless asked to
return them. Asked at the end of each call, the node's resident memory stays where it was."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache


@lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_free_memory() -> bool:
    """Return freed heap memory to the system (glibc only; a no-op elsewhere)."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
