"""Case store over HTTP and the CLI import, against the app's embedded redis-server."""

import json
import os
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.integration


def _case(corpus, call="d01"):
    return json.loads((corpus / f"{call}.json").read_text(encoding="utf-8"))["case"]


def test_put_then_get_round_trips(server, corpus):
    case = _case(corpus)
    put = httpx.put(f"{server.http}/api/cases/{case['case_id']}", json=case, headers=server.headers())
    assert put.status_code == 200
    got = httpx.get(f"{server.http}/api/cases/{case['case_id']}", headers=server.headers()).json()
    assert got["debt"]["total"] == 110000 and got["sensitive_topics"] == ["家人"]


def test_bad_case_is_422_naming_the_field(server, corpus):
    case = _case(corpus)
    case["debt"]["min_payment"] = "twelve thousand"
    reply = httpx.put(f"{server.http}/api/cases/{case['case_id']}", json=case, headers=server.headers())
    assert reply.status_code == 422
    assert ["body", "debt", "min_payment"] in [e["loc"] for e in reply.json()["detail"]]


def test_case_id_must_match_the_url(server, corpus):
    reply = httpx.put(f"{server.http}/api/cases/OTHER-1", json=_case(corpus), headers=server.headers())
    assert reply.status_code == 422 and "case_id" in reply.text


def test_unknown_case_is_404(server):
    assert httpx.get(f"{server.http}/api/cases/NOPE-404", headers=server.headers()).status_code == 404


def test_cli_import_reaches_the_running_servers_redis(server, corpus):
    """`ferryman cases import` finds the embedded Redis the server runs on the same data dir."""
    data_dir = server.app.state.services.settings.data_dir
    env = {**os.environ, "FERRYMAN_DATA_DIR": str(data_dir)}
    env.pop("FERRYMAN_REDIS_URL", None)
    out = subprocess.run([sys.executable, "-m", "ferryman.cli", "cases", "import",
                          str(corpus / "d07.json"), str(corpus / "d08.json")],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert httpx.get(f"{server.http}/api/cases/CC-2023-042008", headers=server.headers()).json()["customer"]["name"] == "周杰"


def test_cli_import_rejects_bad_files_clearly(tmp_path, redis_server):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"case_id": "X1", "customer": {"name": "甲"}}))
    env = {**os.environ, "FERRYMAN_REDIS_URL": redis_server.url}
    out = subprocess.run([sys.executable, "-m", "ferryman.cli", "cases", "import", str(bad)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "debt" in out.stderr
