"""Tokens and roles on the REST API and the subscriber sockets; agent actions on a live call."""

import asyncio
import json

import httpx
import pytest
import websockets

from ferryman.bus.streams import FLOOR_TYPES
from ferryman.client import subscribe
from ferryman.ingest.protocol import CloseCode
from support import debtors_today

pytestmark = pytest.mark.integration


def final_with(text):
    return lambda e: e.final and text in e.text


async def first_message_or_close(url, token):
    ws = await subscribe(url, token)
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), 5))
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code, closed.rcvd.reason
    finally:
        await ws.close()


def test_rest_needs_a_known_token_of_the_right_role(server):
    policies = f"{server.http}/api/policies"
    missing = httpx.get(policies)
    assert missing.status_code == 401 and missing.json()["detail"] == "no access token given"
    assert missing.headers["www-authenticate"] == "Bearer"
    assert httpx.get(policies, headers={"Authorization": "Bearer guess"}).status_code == 401
    assert httpx.get(policies, headers=server.headers("agent")).status_code == 200
    edit = httpx.put(f"{policies}/hardship_deferral", json={}, headers=server.headers("agent"))
    assert edit.status_code == 403 and "supervisor" in edit.json()["detail"]
    assert httpx.get(f"{server.http}/api/me", headers=server.headers("agent")).json() == \
        {"role": "agent", "agent_id": "a1", "name": "王敏"}
    assert httpx.get(f"{server.http}/api/health").status_code == 200          # the only open route


async def test_agents_see_only_their_own_calls(server, live_call):
    mine, theirs = live_call("d01", agent_id="a1"), live_call("d06", agent_id="a2")
    await mine.start()
    await theirs.start()
    listed = httpx.get(f"{server.http}/api/calls", headers=server.headers("agent")).json()
    assert mine.call_id in [c["call_id"] for c in listed] and theirs.call_id not in [c["call_id"] for c in listed]
    everything = [c["call_id"] for c in httpx.get(f"{server.http}/api/calls", headers=server.headers()).json()]
    assert {mine.call_id, theirs.call_id} <= set(everything)

    brief = httpx.get(f"{server.http}/api/calls/{mine.call_id}/case", headers=server.headers("agent"))
    assert brief.status_code == 200 and brief.json()["customer"]["name"] == "王建国"
    refused = httpx.get(f"{server.http}/api/calls/{theirs.call_id}/case", headers=server.headers("agent"))
    assert refused.status_code == 403 and "王敏" in refused.json()["detail"]
    assert httpx.get(f"{server.http}/api/cases/{mine.case.case_id}", headers=server.headers("agent")).status_code == 403

    code, reason = await first_message_or_close(f"{server.ws}/ws/calls/{theirs.call_id}", server.token["agent"])
    assert code == CloseCode.FORBIDDEN and theirs.call_id in reason
    code, reason = await first_message_or_close(f"{server.ws}/ws/calls/{mine.call_id}", "guess")
    assert code == CloseCode.UNAUTHENTICATED and "unknown" in reason
    code, _ = await first_message_or_close(f"{server.ws}/ws/floor", server.token["gateway"])
    assert code == CloseCode.FORBIDDEN

    snapshot = await first_message_or_close(f"{server.ws}/ws/floor", server.token["agent"])
    assert snapshot["type"] == "snapshot" and snapshot["who"]["agent_id"] == "a1"
    assert [c["call_id"] for c in snapshot["calls"] if c["call_id"] in (mine.call_id, theirs.call_id)] == [mine.call_id]
    wall = await first_message_or_close(f"{server.ws}/ws/floor", server.token["supervisor"])
    row = next(c for c in wall["calls"] if c["call_id"] == mine.call_id)
    assert row["agent_name"] == "王敏" and row["customer"] == "王建国" and row["state"] == "started"


async def test_the_floor_resumes_from_its_last_id(server, live_call):
    def floor_view(events):
        return [(e["type"], e.get("code"), e["t"]) for e in events]

    call = live_call("d01", agent_id="a1")
    ws = await subscribe(f"{server.ws}/ws/floor", server.token["supervisor"])
    snapshot = json.loads(await asyncio.wait_for(ws.recv(), 5))
    await call.start()
    await call.play_until(final_with("烦不烦"))
    first = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
    assert [e["type"] for e in first] == ["call", "mood", "hint"] and first[0]["call_id"] == call.call_id
    await ws.close()
    await call.play_until(final_with("投诉过他了"))                    # while no one is watching
    on_floor = [json.loads(e.to_json()) for e in await call.events() if e.type in FLOOR_TYPES]
    expected = on_floor[3:]
    assert len(expected) >= 2, "the complaint turn raises mood and hints"
    again = await subscribe(f"{server.ws}/ws/floor?after={first[-1]['id']}", server.token["supervisor"])
    missed = [json.loads(await asyncio.wait_for(again.recv(), 5)) for _ in expected]
    with pytest.raises(asyncio.TimeoutError):                          # and nothing more
        await asyncio.wait_for(again.recv(), 0.5)
    await again.close()
    assert floor_view(first) == floor_view(on_floor[:3]) and floor_view(missed) == floor_view(expected)
    ids = [snapshot["id"]] + [e["id"] for e in first + missed]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-")))) and len(set(ids)) == len(ids)


async def test_ack_coach_and_promise_on_a_live_call(server, live_call):
    call = live_call("d01", agent_id="a1")
    await call.start()
    await call.play_until(final_with("一万两千块"))
    hints = {e.code: e for e in await call.events() if e.type == "hint"}
    base = f"{server.http}/api/calls/{call.call_id}"

    ack = httpx.post(f"{base}/ack", json={"hint_id": hints["avoid_topic"].id}, headers=server.headers("agent"))
    assert ack.status_code == 200 and ack.json()["type"] == "ack"
    assert httpx.post(f"{base}/ack", json={"hint_id": "1-0"}, headers=server.headers("agent")).status_code == 422
    assert httpx.post(f"{base}/ack", json={"hint_id": hints["avoid_topic"].id},
                      headers=server.headers("agent2")).status_code == 403

    assert httpx.post(f"{base}/coach", json={"text": "别提家人"}, headers=server.headers("agent")).status_code == 403
    coach = httpx.post(f"{base}/coach", json={"text": "别提家人"}, headers=server.headers())
    assert coach.status_code == 200 and coach.json()["by"] == "张组长"

    promise = hints["promise_to_pay"]
    corrected = httpx.post(f"{base}/promise", headers=server.headers("agent"),
                           json={"amount": 10000, "due": promise.data["promise"]["due"], "hint_id": promise.id})
    assert corrected.status_code == 200 and corrected.json()["status"] == "corrected"
    bad = httpx.post(f"{base}/promise", headers=server.headers("agent"), json={"amount": -5, "due": "tomorrow"})
    assert bad.status_code == 422

    kinds = [e.type for e in await call.events()]
    assert kinds[-3:] == ["ack", "coach", "promise"]
    mine = httpx.get(f"{base}/promises", headers=server.headers("agent")).json()
    assert [(p["status"], p["amount"]) for p in mine] == [("captured", 12000.0), ("corrected", 10000.0)]
    assert mine[0]["due"] == debtors_today().isoformat()

    await call.close()
    late = httpx.post(f"{base}/coach", json={"text": "太晚了"}, headers=server.headers())
    assert late.status_code == 409 and "ended" in late.json()["detail"]
