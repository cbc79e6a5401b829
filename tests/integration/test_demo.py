"""`ferryman demo` (the README's main job) end to end, on the shortest corpus call."""

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_demo_streams_a_call_through_the_server_and_exits(tmp_path, corpus, free_port):
    env = {**os.environ, "FERRYMAN_DATA_DIR": str(tmp_path), "FERRYMAN_PORT": str(free_port),
           "FERRYMAN_DEMO_CALL": str(corpus / "d06.json")}
    env.pop("FERRYMAN_REDIS_URL", None)
    out = subprocess.run([sys.executable, "-m", "ferryman.cli", "demo", "--speed", "3", "--exit", "--lead-in", "0"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert re.search(r"agent panel: +http://127\.0\.0\.1:\d+/ui/agent\.html#token=\S{16,}", out.stdout)
    assert re.search(r"supervisor wall: +http://127\.0\.0\.1:\d+/ui/supervisor\.html#token=\S{16,}", out.stdout)
    finals = re.findall(r"\] (坐席|客户): (.+)", out.stdout)
    assert {who for who, _ in finals} == {"坐席", "客户"}
    assert "投诉" in "".join(text for who, text in finals if who == "客户")
    assert "提示（agent_compliance）" in out.stdout          # d06's agent threatens: the hint shows up
    assert "call finished" in out.stdout
    assert not (tmp_path / "redis" / "url").exists(), "the embedded redis-server was not stopped"
