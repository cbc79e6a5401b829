"""mod_audio_fork's metadata and credentials as FreeSWITCH sends them (no sockets)."""

import html
import re
from pathlib import Path

import pytest

from ferryman.gateways.freeswitch import basic_password, parse_metadata
from ferryman.ingest.protocol import ProtocolError

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateways" / "freeswitch.md"


def documented_metadata() -> list[str]:
    """The metadata argument of every uuid_audio_fork start line on the page, as FreeSWITCH
    passes it after the XML parser has read the dialplan (&quot; -> ")."""
    lines = [html.unescape(line) for line in DOC.read_text(encoding="utf-8").splitlines()
             if "uuid_audio_fork" in line and " start " in line]
    found = [re.search(r" (?:8k|16k) (\{.*\})", line) for line in lines]
    return [m.group(1) for m in found if m]


def test_the_configuration_on_the_docs_page_parses():
    metadata = documented_metadata()
    assert len(metadata) >= 2
    for text in metadata:
        meta = parse_metadata(text.replace("${uuid}", "4c6a3b1e-0000-4000-8000-000000000001")
                              .replace("<customer-uuid>", "4c6a3b1e-0000-4000-8000-000000000001"), {})
        assert meta.mix == "stereo" and meta.rate == 8000 and meta.call_id


def test_rates_as_the_command_spells_them_and_the_query_fills_in():
    assert parse_metadata(None, {"mix": "mono", "rate": "16k", "channel": "agent"}).rate == 16000
    assert parse_metadata('{"rate": 8000}', {"mix": "stereo", "rate": "16k"}).rate == 8000    # metadata wins
    for bad in ('{"mix": "stereo", "rate": 44100}', '{"mix": "quad", "rate": 8000}', "[1, 2]", "{'mix': 1}",
                '{"mix": "stereo"}'):
        with pytest.raises(ProtocolError):
            parse_metadata(bad, {})


def test_the_basic_password_is_the_token():
    assert basic_password("Basic ZnM6dG9rLWdhdGV3YXk=") == "tok-gateway"      # fs:tok-gateway
    assert basic_password("Basic not-base64!") is None
    assert basic_password("Bearer x") is None and basic_password(None) is None
