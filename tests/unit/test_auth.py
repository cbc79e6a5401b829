"""Access tokens: grants, roles, the tokens file and `ferryman tokens add`."""

import subprocess
import sys

import pytest
from pydantic import ValidationError

from ferryman.settings import AccessGrant, Settings
from ferryman.web.auth import AccessConfigError, AuthError, TokenBook, load_tokens_file

BOOK = TokenBook({"t-agent": AccessGrant(role="agent", agent_id="a1", name="王敏"),
                  "t-sup": AccessGrant(role="supervisor", name="张组长")})


def test_a_known_token_of_an_allowed_role_is_its_principal():
    who = BOOK.authenticate("t-agent", ("agent", "supervisor"))
    assert (who.role, who.agent_id, who.name) == ("agent", "a1", "王敏")
    assert who.may_see_call("a1") and not who.may_see_call("a2")
    assert BOOK.authenticate("t-sup", ("supervisor",)).may_see_call("anyone")


@pytest.mark.parametrize("token, roles, status, words", [
    (None, ("agent",), 401, "no access token"),
    ("", ("agent",), 401, "no access token"),
    ("t-agen", ("agent",), 401, "unknown"),
    ("t-agent", ("supervisor",), 403, "needs supervisor"),
    (12345, ("agent",), 401, "string"),
    (["t-agent"], ("agent",), 401, "string"),
    ({"t": 1}, ("agent",), 401, "string"),
    ("x" * 600, ("agent",), 401, "at most 512"),
])
def test_refusals_say_why(token, roles, status, words):
    with pytest.raises(AuthError) as refused:
        BOOK.authenticate(token, roles)
    assert refused.value.status == status and words in refused.value.reason


def test_an_agent_token_must_name_its_agent():
    with pytest.raises(ValidationError, match="agent_id"):
        AccessGrant(role="agent")


def test_tokens_file_and_env_are_merged(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n  abc: {role: supervisor, name: 组长}\n", encoding="utf-8")
    book = TokenBook.from_settings(Settings(tokens={"xyz": {"role": "gateway"}}, tokens_file=path))
    assert len(book) == 2 and book.authenticate("abc", ("supervisor",)).name == "组长"


@pytest.mark.parametrize("text, words", [
    ("tokens:\n  abc: {role: janitor}\n", "role"),
    ("tokens: [unclosed\n", "tokens file"),
])
def test_a_bad_tokens_file_names_the_problem(tmp_path, text, words):
    path = tmp_path / "tokens.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AccessConfigError, match=words):
        load_tokens_file(path)
    with pytest.raises(AccessConfigError, match="No such file"):
        load_tokens_file(tmp_path / "missing.yaml")


def test_cli_adds_a_fresh_token_to_the_file(tmp_path):
    path = tmp_path / "tokens.yaml"
    add = [sys.executable, "-m", "ferryman.cli", "tokens", "add", "--file", str(path)]
    first = subprocess.run(add + ["--role", "agent", "--agent-id", "a7", "--name", "赵六"],
                           capture_output=True, text=True, timeout=60)
    second = subprocess.run(add + ["--role", "supervisor"], capture_output=True, text=True, timeout=60)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    tokens = load_tokens_file(path)
    agent_token, sup_token = first.stdout.strip(), second.stdout.strip()
    assert len(agent_token) >= 32 and agent_token != sup_token
    assert tokens[agent_token].agent_id == "a7" and tokens[sup_token].role == "supervisor"
    assert oct(path.stat().st_mode)[-3:] == "600"
    bad = subprocess.run(add + ["--role", "agent"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "agent_id" in bad.stderr


def test_a_token_holds_at_most_its_share_of_sockets():
    from ferryman.ingest.protocol import CloseCode, ProtocolError
    from ferryman.web.auth import SocketQuota

    quota, agent = SocketQuota(2), BOOK.authenticate("t-agent", ("agent",))
    other = BOOK.authenticate("t-sup", ("supervisor",))
    with quota.hold(agent), quota.hold(agent):
        with pytest.raises(ProtocolError) as refused, quota.hold(agent):
            pass
        assert refused.value.code == CloseCode.TOO_MANY_SOCKETS
        with quota.hold(other):      # another token is not affected
            pass
    with quota.hold(agent), quota.hold(agent):   # closing a socket gives its place back
        pass


def test_an_expired_token_is_refused():
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    book = TokenBook({"old": AccessGrant(role="supervisor", expires=now - timedelta(seconds=1)),
                      "new": AccessGrant(role="supervisor", expires=now + timedelta(days=1)),
                      "naive": AccessGrant(role="supervisor", expires="2000-01-01T00:00:00")})
    for token in ("old", "naive"):
        with pytest.raises(AuthError, match="expired"):
            book.authenticate(token, ("supervisor",))
    assert book.authenticate("new", ("supervisor",)).role == "supervisor"


def test_the_tokens_file_is_read_again_when_it_changes(tmp_path):
    import os

    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n  first: {role: supervisor}\n", encoding="utf-8")
    book = TokenBook.from_settings(Settings(tokens={"env": {"role": "gateway"}}, tokens_file=path))
    path.write_text("tokens:\n  second: {role: agent, agent_id: a9}\n", encoding="utf-8")
    os.utime(path, ns=(1, 10**18))                         # a change the clock can see
    book.refresh(now=10**9)
    assert book.authenticate("second", ("agent",)).agent_id == "a9"
    assert book.authenticate("env", ("gateway",)).role == "gateway"        # settings' tokens stay
    with pytest.raises(AuthError, match="unknown"):                        # removed from the file: gone
        book.authenticate("first", ("supervisor",))
    path.write_text("tokens: [broken\n", encoding="utf-8")
    os.utime(path, ns=(1, 2 * 10**18))
    book.refresh(now=2 * 10**9)
    assert book.authenticate("second", ("agent",)).agent_id == "a9"         # the last good file holds


def test_cli_adds_a_token_that_expires(tmp_path):
    path = tmp_path / "tokens.yaml"
    made = subprocess.run([sys.executable, "-m", "ferryman.cli", "tokens", "add", "--file", str(path), "--role",
                           "gateway", "--days", "7"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert load_tokens_file(path)[made.stdout.strip()].expires is not None


def test_an_open_socket_learns_its_token_was_revoked(tmp_path):
    import os

    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n  kept: {role: supervisor}\n  gone: {role: agent, agent_id: a1}\n", encoding="utf-8")
    book = TokenBook.from_settings(Settings(tokens_file=path))
    kept, gone = book.authenticate("kept", ("supervisor",)), book.authenticate("gone", ("agent",))
    assert book.still_valid(kept) and book.still_valid(gone)
    path.write_text("tokens:\n  kept: {role: supervisor}\n", encoding="utf-8")
    os.utime(path, ns=(1, 10**18))
    book.refresh(now=10**9)
    assert book.still_valid(kept) and not book.still_valid(gone)
