"""The wrap-up drafted at hang-up, saved by the agent, shown to the next call on the case."""

import asyncio
import json
import uuid
from datetime import date

import httpx
import pytest
import websockets

from ferryman.cases.schema import load_case_file
from ferryman.client import put_case, stream_transcript

pytestmark = pytest.mark.integration


def transcribed_call(server, corpus, name: str, agent_id: str = "a1") -> str:
    """A corpus call's reference turns through the transcript socket (hints, records: as live)."""
    call_id = f"wrap-{name}-{uuid.uuid4().hex[:6]}"
    case = load_case_file(corpus / f"{name}.json")

    async def scenario():
        await put_case(server.ws, case, server.token["gateway"])
        await stream_transcript(server.ws, call_id, case.case_id, corpus / f"{name}.json", server.token["gateway"],
                                agent_id=agent_id)

    asyncio.run(scenario())
    return call_id


def opened_call(server, case_id: str) -> str:
    """A call on the case that has only just begun: the agent's greeting, nothing promised."""
    call_id = f"open-{uuid.uuid4().hex[:8]}"

    async def scenario():
        async with websockets.connect(f"{server.ws}/ws/ingest/{call_id}") as ws:
            await ws.send(json.dumps({"type": "start", "token": server.token["gateway"], "source": "transcript",
                                      "case_id": case_id, "agent_id": "a1"}))
            await ws.recv()
            await ws.send(json.dumps({"type": "turn", "channel": "agent", "text": "您好，这里是信用卡中心。",
                                      "start": 0.0, "end": 2.0}, ensure_ascii=False))
            await ws.send(json.dumps({"type": "stop"}))
            await ws.recv()

    asyncio.run(scenario())
    return call_id


def api(server, method: str, path: str, role: str = "agent", **kwargs) -> httpx.Response:
    return httpx.request(method, f"{server.http}/api{path}", headers=server.headers(role), **kwargs)


def test_the_draft_is_extracted_from_the_call_and_every_line_points_to_its_turn(server, corpus):
    call_id = transcribed_call(server, corpus, "d02")
    draft = api(server, "GET", f"/calls/{call_id}/wrapup").json()
    assert draft["saved"] is False and draft["disposition"] == "promise_to_pay"
    assert draft["promise"]["amount"] == 1300 and draft["promise"]["date_text"] == "下个月十五号"
    assert any("失业" in line["text"] for line in draft["situation"])
    reference = json.loads((corpus / "d02.json").read_text(encoding="utf-8"))["turns"]
    said = [turn["text"] for turn in reference]
    for line in draft["summary"] + draft["situation"]:
        quote = line["source"]["quote"].rstrip("…")
        assert any(quote in text for text in said), line          # extraction, not invention
    assert "承诺还款" in draft["dispositions"].values()


def test_the_agent_corrects_and_saves_and_the_next_call_on_the_case_sees_it(server, corpus):
    first = transcribed_call(server, corpus, "d02")
    draft = api(server, "GET", f"/calls/{first}/wrapup").json()
    lines = [line["text"] for line in draft["summary"]] + ["客户希望下午联系。"]
    saved = api(server, "PUT", f"/calls/{first}/wrapup",
                json={"disposition": "promise_to_pay", "promise": {"amount": 1500, "due": "2026-12-15"},
                      "summary": lines, "situation": [line["text"] for line in draft["situation"]]})
    assert saved.status_code == 200, saved.text
    record = saved.json()
    assert record["promise"]["status"] == "corrected" and record["by"] == "王敏"
    assert record["summary"][0]["source"] and record["summary"][-1]["source"] is None    # the agent's own line
    assert api(server, "GET", f"/calls/{first}/wrapup").json()["saved"] is True

    second = transcribed_call(server, corpus, "d02")
    history = api(server, "GET", f"/calls/{second}/history").json()
    assert history[0]["call_id"] == first and "客户希望下午联系。" in [line["text"] for line in history[0]["summary"]]
    assert "compliance" not in history[0] and "compliance" in api(server, "GET", f"/calls/{second}/history",
                                                                  role="supervisor").json()[0]
    case_id = load_case_file(corpus / "d02.json").case_id
    ledger = [p for p in api(server, "GET", f"/cases/{case_id}/promises", role="supervisor").json()
              if p["call_id"] == first]
    assert [(p["status"], p["amount"], p["due"]) for p in ledger][-1] == ("corrected", 1500, "2026-12-15")

    api(server, "PUT", f"/calls/{first}/wrapup", json={"disposition": "refused", "summary": ["客户未承诺还款。"]})
    ledger = [p for p in api(server, "GET", f"/cases/{case_id}/promises", role="supervisor").json()
              if p["call_id"] == first]
    assert ledger[-1]["status"] == "withdrawn"                              # struck at wrap-up
    assert api(server, "GET", f"/calls/{second}/history", role="agent2").status_code == 403   # not a2's call


def test_saving_is_refused_with_reasons(server, corpus):
    call_id = transcribed_call(server, corpus, "d04")
    body = {"disposition": "promise_to_pay", "summary": ["客户承诺今天还款。"]}
    assert api(server, "PUT", f"/calls/{call_id}/wrapup", json={**body, "disposition": "maybe"}).status_code == 422
    assert api(server, "PUT", f"/calls/{call_id}/wrapup", json={**body, "summary": []}).status_code == 422
    assert api(server, "PUT", f"/calls/{call_id}/wrapup", role="supervisor", json=body).status_code == 403
    assert api(server, "PUT", f"/calls/{call_id}/wrapup", role="agent2", json=body).status_code == 403
    assert api(server, "PUT", "/calls/no-such-call/wrapup", json=body).status_code == 404


async def test_a_live_call_has_no_wrap_up_to_save_yet(server, live_call):
    call = live_call("d02", agent_id="a1")
    await call.start()
    reply = await asyncio.to_thread(api, server, "PUT", f"/calls/{call.call_id}/wrapup",
                                    json={"disposition": "refused", "summary": ["未接通。"]})
    assert reply.status_code == 409 and "still live" in reply.json()["detail"]


def test_a_promise_is_followed_up_until_the_payment_keeps_it(server, corpus):
    call_id = transcribed_call(server, corpus, "d04")          # "今天晚上就把八千六全部还上"
    case_id = load_case_file(corpus / "d04.json").case_id
    due = [p for p in api(server, "GET", "/promises", role="supervisor").json() if p["call_id"] == call_id]
    assert len(due) == 1 and due[0]["amount"] == 8600 and due[0]["status"] == "open", due
    assert due[0]["line"].endswith("未见入账") and due[0]["customer"]
    assert api(server, "GET", "/promises").status_code == 403                      # agents: not the list

    today = str(date.today())
    refused = api(server, "POST", "/payments", role="gateway",
                  json=[{"case_id": case_id, "amount": 8600, "paid_on": today, "ref": f"T-{call_id}"},
                        {"case_id": "NO-SUCH-CASE", "amount": 1, "paid_on": today, "ref": "T-x"}])
    assert refused.status_code == 404 and "NO-SUCH-CASE" in refused.json()["detail"]     # and nothing recorded
    assert api(server, "POST", f"/cases/{case_id}/payments", role="gateway",
               json={"amount": 8600, "paid_on": today}).status_code == 422             # no bank reference
    paid = api(server, "POST", f"/cases/{case_id}/payments", role="gateway",
               json={"amount": 8600, "paid_on": today, "ref": f"T-{call_id}"})
    assert paid.status_code == 201 and paid.json()["recorded"] == 1, paid.text
    again = api(server, "POST", f"/cases/{case_id}/payments", role="gateway",
                json={"amount": 8600, "paid_on": today, "ref": f"T-{call_id}"})
    assert again.json() == {"case_id": case_id, "recorded": 0, "already_recorded": 1}     # a retry counts once
    assert call_id not in [p["call_id"] for p in api(server, "GET", "/promises", role="supervisor").json()]

    following = opened_call(server, case_id)                  # the next call's brief, before anything is said
    brief = api(server, "GET", f"/calls/{following}/followups").json()
    earlier = next(f for f in brief if f["call_id"] == call_id)
    assert earlier["status"] == "kept" and earlier["line"].endswith("已兑现")


def test_calls_are_exported_as_jsonl_and_csv_and_agents_get_only_their_own(server, corpus):
    mine = transcribed_call(server, corpus, "d04", agent_id="a1")
    theirs = transcribed_call(server, corpus, "d04", agent_id="a2")
    api(server, "PUT", f"/calls/{mine}/wrapup", json={"disposition": "promise_to_pay", "summary": ["今天还八千六。"],
                                                       "promise": {"amount": 8600, "due": str(date.today())}})
    today = str(date.today())
    exported = api(server, "GET", "/export/calls", role="supervisor", params={"since": today})
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    records = {r["call_id"]: r for r in map(json.loads, exported.text.splitlines())}
    assert {mine, theirs} <= set(records)
    record = records[mine]
    assert record["wrapup"]["disposition"] == "promise_to_pay" and record["agent_id"] == "a1"
    assert any("八千六" in turn["text"] for turn in record["transcript"])
    assert "promise_to_pay" in [h["code"] for h in record["hints"]]

    table = api(server, "GET", "/export/calls", role="supervisor", params={"since": today, "format": "csv"}).text
    header, *rows = table.splitlines()
    assert header.startswith("call_id,case_id,agent_id") and any(row.startswith(mine) and "今天还八千六。" in row
                                                                   for row in rows)
    own = [json.loads(line)["call_id"] for line in api(server, "GET", "/export/calls",
                                                       params={"since": today}).text.splitlines()]
    assert mine in own and theirs not in own                                   # an agent: their own calls


def test_a_promise_without_a_calendar_day_is_saved_as_said(server, corpus):
    call_id = transcribed_call(server, corpus, "d04")
    saved = api(server, "PUT", f"/calls/{call_id}/wrapup",
                json={"disposition": "promise_to_pay", "summary": ["客户说发工资后还款。"],
                      "promise": {"amount": 3000, "due": None}})
    assert saved.status_code == 200, saved.text
    assert saved.json()["promise"]["amount"] == 3000 and saved.json()["promise"]["due"] is None
    ledger = api(server, "GET", f"/calls/{call_id}/promises").json()
    assert ledger[-1]["amount"] == 3000 and ledger[-1]["due"] is None and ledger[-1]["status"] == "corrected"
