"""The shape of every id that comes in from outside and ends up in a Redis key or a log line.

Call and case ids name Redis keys: letters, digits, ``_ . -``, starting with a letter or digit,
at most 128 characters — no ``:`` (``call:{id}:events`` cannot be forged), no glob characters,
no control characters, no spaces. Agent ids are only ever values (teams use e-mail addresses,
Chinese names, staff numbers): anything printable without spaces, ``:`` or glob characters.
One pattern each, used at every door.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, Field

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"
_ID = re.compile(ID_PATTERN)
AGENT_ID_PATTERN = r"^[^\s\x00-\x1f\x7f:*?\[\]]{1,128}$"
STREAM_ID_PATTERN = r"^\d{1,20}-\d{1,20}$"
_STREAM_ID = re.compile(r"^\d{1,20}(-\d{1,20})?$")
MAX_STREAM_PART = 2**64 - 1     # Redis stream ids are two unsigned 64-bit numbers

def _stream_id(value: str) -> str:
    if not valid_stream_id(value):
        raise ValueError("a stream id is 'ms-seq', two numbers below 2**64")
    return value


StreamId = Annotated[str, Field(pattern=STREAM_ID_PATTERN), AfterValidator(_stream_id)]
IdField = Annotated[str, Field(min_length=1, max_length=128, pattern=ID_PATTERN)]
AgentIdField = Annotated[str, Field(min_length=1, max_length=128, pattern=AGENT_ID_PATTERN)]
CallIdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=128, description="call id")]
CaseIdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=128, description="case id")]


def valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID.fullmatch(value))


def valid_stream_id(value: object) -> bool:
    """``ms`` or ``ms-seq``, each part within Redis's 64-bit range."""
    return (isinstance(value, str) and bool(_STREAM_ID.fullmatch(value))
            and all(int(part) <= MAX_STREAM_PART for part in value.split("-")))


def describe_id_rule() -> str:
    return "letters, digits, '_', '.', '-' (starting with a letter or digit), at most 128"


def loggable(value: object, limit: int = 80) -> str:
    """A value from outside as it may appear in a log line: escaped, never a line of its own."""
    text = value if isinstance(value, str) else repr(value)
    return text[:limit].encode("unicode_escape").decode("ascii")
