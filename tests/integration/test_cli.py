"""The command line as a user runs it: replay (the scorer's contract), model errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
SCORER = Path(__file__).resolve().parents[3] / "shared" / "tools" / "score_calls.py"


def ferryman(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "ferryman.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def lines(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def test_transcript_replay_feeds_reference_turns_at_their_end_times(tmp_path, corpus):
    out = ferryman("replay", "--transcript", corpus / "d01.json", "--out", tmp_path / "d01.jsonl")
    assert out.returncode == 0, out.stderr
    call = json.loads((corpus / "d01.json").read_text(encoding="utf-8"))
    finals = [e for e in lines(tmp_path / "d01.jsonl") if e["type"] == "transcript"]
    assert [(e["text"], e["t"]) for e in finals] == [(t["text"], t["end"]) for t in call["turns"]]


def test_transcript_replay_through_a_server_is_what_its_subscriber_socket_received(tmp_path, corpus, server):
    out = ferryman("replay", "--transcript", corpus / "d01.json", "--server", server.ws, "--token",
                   server.token["gateway"], "--call-id", "cli-transcript-1", "--out", tmp_path / "d01.jsonl")
    assert out.returncode == 0, out.stderr
    events = lines(tmp_path / "d01.jsonl")
    call = json.loads((corpus / "d01.json").read_text(encoding="utf-8"))
    assert all(e.get("id") for e in events)                       # every line came off the server's stream
    assert [e["text"] for e in events if e["type"] == "transcript"] == [t["text"] for t in call["turns"]]
    assert {"avoid_topic", "promise_to_pay"} <= {e["code"] for e in events if e["type"] == "hint"}
    assert events[-1]["type"] == "call" and events[-1]["state"] == "ended"


def test_audio_replay_writes_what_the_scorer_reads(tmp_path, corpus):
    out = ferryman("replay", corpus / "d06.flac", "--case", corpus / "d06.json", "--out", tmp_path / "d06.jsonl")
    assert out.returncode == 0, out.stderr
    events = lines(tmp_path / "d06.jsonl")
    finals = [e for e in events if e["type"] == "transcript" and e["final"]]
    assert finals and all(e["channel"] in ("agent", "customer") and e["start"] < e["end"] <= e["t"] for e in finals)
    ts = [e["t"] for e in events]
    assert ts == sorted(ts) and ts[-1] <= 34.0          # speed 0: t is audio time, never ahead of it
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "d06.json").symlink_to(corpus / "d06.json")
    scored = json.loads(subprocess.run([sys.executable, SCORER, "score", tmp_path / "corpus", tmp_path],
                                       capture_output=True, text=True, check=True).stdout)
    assert scored["cer"] < 0.35                           # sensible, not exact (synthetic voices vary)


def test_missing_model_is_one_clear_error(tmp_path, corpus):
    env = {"FERRYMAN_MODEL_DIR": str(tmp_path / "no-model")}
    for args in (["serve"], ["model", "check"],
                 ["replay", corpus / "d06.flac", "--case", corpus / "d06.json", "--out", tmp_path / "x.jsonl"]):
        out = ferryman(*args, env=env, timeout=60)
        assert out.returncode == 2, (args, out.stderr)
        assert "ferryman model install" in out.stderr and "Traceback" not in out.stderr


def test_bad_audio_file_is_a_clear_error(tmp_path, corpus):
    junk = tmp_path / "junk.flac"
    junk.write_bytes(b"not audio at all")
    out = ferryman("replay", junk, "--case", corpus / "d06.json", "--out", tmp_path / "x.jsonl", timeout=60)
    assert out.returncode == 2 and "cannot decode" in out.stderr


def test_mono_recording_is_refused_not_misread(tmp_path, corpus):
    import wave

    mono = tmp_path / "mono.wav"
    with wave.open(str(mono), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 16000)
    out = ferryman("replay", mono, "--case", corpus / "d06.json", "--out", tmp_path / "x.jsonl", timeout=60)
    assert out.returncode == 2 and "must be stereo" in out.stderr
