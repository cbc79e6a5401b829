"""Fixtures the gateway tests share: d06 (33 s: a threatening agent, a customer who threatens to
complain) with its case imported, and its audio as telephones carry it (8 kHz)."""

import json

import httpx
import pytest

from pbx import CallAudio


@pytest.fixture(scope="session")
def d06(server, corpus):
    case = json.loads((corpus / "d06.json").read_text(encoding="utf-8"))["case"]
    httpx.put(f"{server.http}/api/cases/{case['case_id']}", json=case,
              headers=server.headers("gateway")).raise_for_status()
    return case["case_id"]


@pytest.fixture(scope="session")
def d06_8k(corpus):
    return CallAudio.of(corpus / "d06.flac", rate=8000)
