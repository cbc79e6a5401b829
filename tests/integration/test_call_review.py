"""Reviewing calls after the fact, through the real server and Redis: search, the filtered list,
one call's full record and its QA scorecard; agents see only their own calls."""

import asyncio
import uuid

import httpx
import pytest

from ferryman.cases.schema import load_case_file
from ferryman.client import put_case, stream_transcript

pytestmark = pytest.mark.integration


def api(server, path: str, role: str = "supervisor", **params) -> httpx.Response:
    return httpx.get(f"{server.http}/api{path}", headers=server.headers(role), params=params)


@pytest.fixture(scope="module")
def reviewed(server, corpus) -> dict:
    """d06 (an agent who threatens; agent a2) and d07 (a clean call; agent a1) under one fresh
    case id each, transcribed through the server."""
    calls = {}
    for name, agent in (("d06", "a2"), ("d07", "a1")):
        case = load_case_file(corpus / f"{name}.json").model_copy(update={"case_id": f"rv-{uuid.uuid4().hex[:8]}"})
        call_id = f"rv-{name}-{uuid.uuid4().hex[:6]}"

        async def scenario(case=case, call_id=call_id, name=name, agent=agent):
            await put_case(server.ws, case, server.token["gateway"])
            await stream_transcript(server.ws, call_id, case.case_id, corpus / f"{name}.json",
                                    server.token["gateway"], agent_id=agent)

        asyncio.run(scenario())
        calls[name] = {"call_id": call_id, "case_id": case.case_id, "agent": agent}
    return calls


def listed(server, role: str = "supervisor", **filters) -> list[str]:
    answer = api(server, "/records", role, **filters)
    assert answer.status_code == 200, answer.text
    return [c["call_id"] for c in answer.json()["calls"]]


def test_the_record_has_everything_and_the_scorecard_names_the_violations_turns(server, reviewed):
    record = api(server, f"/calls/{reviewed['d06']['call_id']}/record").json()
    assert record["transcript"] and all({"channel", "utterance", "start", "text"} <= t.keys() for t in record["transcript"])
    assert any(h["code"] == "agent_compliance" for h in record["hints"])
    assert record["wrapup"]["saved"] is False and record["wrapup"]["disposition"]
    card = record["scorecard"]
    assert card["violations"] >= 2 and card["total"] is not None and card["total"] < 60
    compliance = next(i for i in card["items"] if i["key"] == "compliance")
    assert compliance["status"] == "fail"
    said = {(t["channel"], t["utterance"]): t["text"] for t in record["transcript"]}
    for line in compliance["details"]:                          # each violation points to what the agent said
        source = line["source"]
        assert source["channel"] == "agent" and source["quote"].rstrip("…") in said[("agent", source["utterance"])]
    clean = api(server, f"/calls/{reviewed['d07']['call_id']}/scorecard").json()
    assert clean["violations"] == 0 and clean["total"] > card["total"]


def test_the_list_filters_by_case_agent_violations_score_and_disposition(server, reviewed):
    d06, d07 = reviewed["d06"], reviewed["d07"]
    assert listed(server, case_id=d06["case_id"]) == [d06["call_id"]]
    with_violations = listed(server, violations="true", limit=200)
    assert d06["call_id"] in with_violations and d07["call_id"] not in with_violations
    assert d07["call_id"] in listed(server, agent_id="a1", violations="false", limit=200)
    assert d06["call_id"] not in listed(server, agent_id="a1", limit=200)
    score = api(server, f"/calls/{d06['call_id']}/scorecard").json()["total"]
    assert listed(server, case_id=d06["case_id"], max_score=score) == [d06["call_id"]]
    assert listed(server, case_id=d06["case_id"], min_score=score + 1) == []
    row = api(server, "/records", case_id=d07["case_id"]).json()["calls"][0]
    assert listed(server, case_id=d07["case_id"], disposition=row["disposition"]) == [d07["call_id"]]
    assert listed(server, case_id=d07["case_id"], disposition="wrong_number" if row["disposition"] != "wrong_number"
                  else "refused") == []


def test_a_word_search_links_to_the_turn_and_agents_see_only_their_own(server, reviewed):
    d06 = reviewed["d06"]
    hits = api(server, "/search", q="暴力催收", case_id=d06["case_id"]).json()["hits"]   # "你们这是暴力催收"
    assert [(h["call_id"], h["channel"], h["utterance"]) for h in hits] == [(d06["call_id"], "customer", 1)]
    assert "暴力催收" in hits[0]["text"]
    assert api(server, "/search", q="暴力 坐牢", case_id=d06["case_id"]).json()["hits"] == []   # two turns, not one
    word = "投诉"
    rows = api(server, "/records", q=word, case_id=d06["case_id"]).json()["calls"]
    assert rows and rows[0]["call_id"] == d06["call_id"] and rows[0]["turns"]
    # d06 is agent a2's call: a1 neither finds it nor opens it, a2 does both
    assert listed(server, "agent", case_id=d06["case_id"]) == []
    assert api(server, f"/calls/{d06['call_id']}/record", "agent").status_code == 403
    assert listed(server, "agent2", case_id=d06["case_id"]) == [d06["call_id"]]
    assert api(server, "/records", "gateway").status_code == 403
    assert api(server, "/records", min_score=101).status_code == 422


def test_a_team_lead_accepts_a_proposed_topic_into_the_case(server, reviewed):
    d06 = reviewed["d06"]
    proposed = api(server, f"/calls/{d06['call_id']}/record").json()["wrapup"]["proposed_topics"]
    assert proposed[0] == "工作单位"                         # the agent's threat the customer flared up at
    url = f"{server.http}/api/cases/{d06['case_id']}/sensitive-topics"
    assert httpx.post(url, json={"topic": "工作单位"}, headers=server.headers("agent")).status_code == 403
    assert httpx.post(url, json={"topic": "工作 单位"}, headers=server.headers()).status_code == 422
    for _ in range(2):                                      # accepting twice lists it once
        accepted = httpx.post(url, json={"topic": "工作单位"}, headers=server.headers())
        assert accepted.status_code == 200 and accepted.json()["sensitive_topics"] == ["工作单位"]
    assert api(server, f"/calls/{d06['call_id']}/record").json()["wrapup"]["proposed_topics"] == proposed[1:]
    case = httpx.get(f"{server.http}/api/cases/{d06['case_id']}", headers=server.headers()).json()
    httpx.put(f"{server.http}/api/cases/{d06['case_id']}", json={**case, "sensitive_topics": []},
              headers=server.headers("gateway")).raise_for_status()               # the CRM uploads it again
    again = httpx.get(f"{server.http}/api/cases/{d06['case_id']}", headers=server.headers()).json()
    assert again["sensitive_topics"] == ["工作单位"]                               # what the lead accepted stays
    assert httpx.post(f"{server.http}/api/cases/nope/sensitive-topics", json={"topic": "家人"},
                      headers=server.headers()).status_code == 404


def test_days_are_read_in_a_time_zone_and_odd_days_are_refused(server, reviewed):
    d07 = reviewed["d07"]
    today = api(server, f"/calls/{d07['call_id']}/record").json()["started_at"][:10]      # UTC date
    assert listed(server, case_id=d07["case_id"], since=today, until=today, tz="UTC") == [d07["call_id"]]
    for bad in ({"until": "9999-12-31"}, {"since": "0001-01-01"}, {"tz": "Mars/Base"}):
        assert api(server, "/records", **bad).status_code == 422, bad


def test_a_call_is_scored_when_it_ends_not_on_the_first_listing(server, corpus):
    import json
    import time

    from ferryman.infra.redis import async_client

    case = load_case_file(corpus / "d07.json")
    call_id = f"rv-end-{uuid.uuid4().hex[:6]}"

    async def scenario():
        await put_case(server.ws, case, server.token["gateway"])
        await stream_transcript(server.ws, call_id, case.case_id, corpus / "d07.json", server.token["gateway"],
                                agent_id="a1")

    async def cached():
        client = async_client(server.app.state.services.embedded_redis.url)
        try:
            return await client.hget(f"call:{call_id}", "qa")
        finally:
            await client.aclose()

    asyncio.run(scenario())
    deadline = time.monotonic() + 5
    while (qa := asyncio.run(cached())) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert qa is not None, "the ended call was not scored"                # nobody listed it yet
    assert json.loads(qa)["score"] == api(server, f"/calls/{call_id}/scorecard").json()["total"]
