"""Full-text search over call transcripts, indexed by the projection in real Redis transactions."""

import uuid
from datetime import datetime, timezone

import pytest
import pytest_asyncio

from ferryman.aftercall.search import SearchIndex, SearchQuery, index_terms, query_terms, warm_up
from ferryman.bus.streams import EventBus
from ferryman.events import CallEvent, HintEvent, TranscriptEvent
from ferryman.infra.redis import async_client

pytestmark = pytest.mark.integration

DAY = 86_400
T0 = 1_760_000_000.0      # the first call starts here (fake clock); later calls are days later
KEEP = 30 * DAY


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def said(call_id: str, channel: str, utterance: int, text: str, final: bool = True) -> TranscriptEvent:
    return TranscriptEvent(call_id=call_id, channel=channel, final=final, utterance=utterance,
                           start=utterance * 5.0, end=utterance * 5.0 + 4, text=text, t=utterance * 5.0 + 4.5)


def hint(call_id: str, code: str) -> HintEvent:
    return HintEvent(call_id=call_id, code=code, severity="info", priority=3, title="提示", detail="", suggestion="",
                     evidence={"channel": "customer", "text": "x"})


# call id -> (day it happened, agent, case, events after "started")
CALLS = {
    "c-old": (0, "a1", "K1", [said("c-old", "agent", 0, "王先生您好，您的信用卡已经逾期三个月了，请尽快还款。"),
                             said("c-old", "customer", 0, "我下周一定还款，最低还款额是多少？"),
                             hint("c-old", "promise_to_pay")]),
    "c-mid": (1, "a2", "K2", [said("c-mid", "customer", 0, "生意失败了，现在没钱，等客户回款再说。"),
                             said("c-mid", "agent", 0, "可以申请停息分期，每月还款压力小一些。"),
                             said("c-mid", "customer", 1, "彩票中奖了我就还", final=False),   # a partial
                             said("c-mid", "customer", 1, "那分期以后利息怎么算？"),
                             hint("c-mid", "hardship")]),
    "c-new": (2, "a1", "K1", [said("c-new", "customer", 0, "還款的事情我要先跟家里商量一下。"),   # traditional script
                             said("c-new", "agent", 0, "好的，那您商量好了给我们回个电话。"),
                             hint("c-new", "promise_to_pay")]),
}


async def stage_all(client, index: SearchIndex, clock: Clock) -> None:
    for call_id, (day, agent_id, case_id, events) in CALLS.items():
        clock.now = T0 + day * DAY
        for event in [CallEvent(call_id=call_id, state="started", agent_id=agent_id, case_id=case_id), *events]:
            clock.now += 10
            pipe = client.pipeline(transaction=True)
            index.stage(pipe, event)
            await pipe.execute()


@pytest_asyncio.fixture
async def indexed(redis_server):
    """The three calls indexed under a prefix of this test's own (the session's Redis is shared)."""
    warm_up()
    client = async_client(redis_server.url)
    clock = Clock()
    index = SearchIndex(client, keep_s=KEEP, prefix=f"srch-{uuid.uuid4().hex[:8]}:", clock=clock)
    await stage_all(client, index, clock)
    yield index, client, clock
    keys = [key async for key in client.scan_iter(match=f"{index.prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def where(results) -> list[tuple[str, str, int]]:
    return [(h.call_id, h.channel, h.utterance) for h in results.hits]


async def test_a_word_that_was_said_finds_its_turns_newest_first(indexed):
    index, _, _ = indexed
    results = await index.search(SearchQuery(text="还款"))
    assert where(results) == [("c-new", "customer", 0), ("c-mid", "agent", 0), ("c-old", "customer", 0),
                              ("c-old", "agent", 0)]
    newest = results.hits[0]
    assert newest.text == "還款的事情我要先跟家里商量一下。"        # the turn as it was said
    assert (newest.agent_id, newest.case_id, newest.start) == ("a1", "K1", 0.0)
    assert newest.said_at == pytest.approx(T0 + 2 * DAY + 20)
    assert [h.said_at for h in results.hits] == sorted((h.said_at for h in results.hits), reverse=True)
    assert results.terms == ["还款"] and not results.more


async def test_every_word_of_a_query_must_be_in_the_same_turn(indexed):
    index, _, _ = indexed
    assert where(await index.search(SearchQuery(text="逾期 还款"))) == [("c-old", "agent", 0)]
    assert where(await index.search(SearchQuery(text="逾期还款"))) == [("c-old", "agent", 0)]
    # both words said on c-mid, but in two different turns
    assert where(await index.search(SearchQuery(text="利息 停息"))) == []
    assert where(await index.search(SearchQuery(text="利息"))) == [("c-mid", "customer", 1)]


async def test_a_word_never_said_finds_nothing(indexed):
    index, _, _ = indexed
    for text in ("火箭", "还款 火箭", "款"):          # 款 only inside 还款: words match whole
        results = await index.search(SearchQuery(text=text))
        assert results.hits == [] and not results.more, text
    only_stop_words = await index.search(SearchQuery(text="的 了吗"))
    assert only_stop_words.hits == [] and only_stop_words.terms == []


async def test_a_word_inside_a_longer_one_is_found(indexed):
    index, _, _ = indexed
    assert where(await index.search(SearchQuery(text="信用"))) == [("c-old", "agent", 0)]     # 信用卡
    assert where(await index.search(SearchQuery(text="分期"))) == [("c-mid", "customer", 1), ("c-mid", "agent", 0)]


async def test_partials_are_not_indexed(indexed):
    index, client, _ = indexed
    assert (await index.search(SearchQuery(text="彩票"))).hits == []
    assert not await client.exists(index.key("t", "彩票"))
    assert await client.hget(index.key("turns", "c-mid"), "customer 1") == (
        '{"text": "那分期以后利息怎么算？", "start": 5.0, "t": 9.5}')


async def test_an_agent_sees_only_their_own_calls(indexed):
    index, _, _ = indexed
    mine = await index.search(SearchQuery(text="还款", agent_scope="a2"))
    assert where(mine) == [("c-mid", "agent", 0)]
    assert (await index.search(SearchQuery(text="还款", agent_scope="a2", agent_id="a1"))).hits == []
    assert where(await index.search(SearchQuery(text="还款", agent_scope="a1", agent_id="a1"))) == [
        ("c-new", "customer", 0), ("c-old", "customer", 0), ("c-old", "agent", 0)]


async def test_case_code_and_date_filters(indexed):
    index, _, _ = indexed
    assert {h.call_id for h in (await index.search(SearchQuery(text="还款", case_id="K1"))).hits} == {"c-old", "c-new"}
    assert {h.call_id for h in (await index.search(SearchQuery(text="还款", code="hardship"))).hits} == {"c-mid"}
    assert (await index.search(SearchQuery(text="还款", code="third_party"))).hits == []
    day_1 = SearchQuery(text="还款", since=T0 + DAY, until=T0 + 2 * DAY)
    assert where(await index.search(day_1)) == [("c-mid", "agent", 0)]
    as_datetime = SearchQuery(text="还款", since=datetime.fromtimestamp(T0 + 1.5 * DAY, tz=timezone.utc))
    assert where(await index.search(as_datetime)) == [("c-new", "customer", 0)]


async def test_limit_and_more(indexed):
    index, _, _ = indexed
    first = await index.search(SearchQuery(text="还款", limit=1))
    assert where(first) == [("c-new", "customer", 0)] and first.more
    assert not (await index.search(SearchQuery(text="还款", limit=4))).more


async def test_filters_without_words_list_the_calls(indexed):
    index, _, _ = indexed
    results = await index.search(SearchQuery(agent_id="a1"))
    assert [h.call_id for h in results.hits] == ["c-new", "c-old"]
    assert results.hits[1].text == "王先生您好，您的信用卡已经逾期三个月了，请尽快还款。"   # its first final
    assert results.hits[1].said_at == pytest.approx(T0 + 10)                           # when it started
    assert [h.call_id for h in (await index.search(SearchQuery(code="promise_to_pay", case_id="K1",
                                                               since=T0 + DAY))).hits] == ["c-new"]
    assert [h.call_id for h in (await index.search(SearchQuery())).hits] == ["c-new", "c-mid", "c-old"]
    assert (await index.search(SearchQuery(agent_scope="a3"))).hits == []


async def test_every_key_expires_and_old_postings_go(indexed):
    index, client, clock = indexed
    keys = [key async for key in client.scan_iter(match=f"{index.prefix}*")]
    assert len(keys) > 20
    ttls = [await client.ttl(key) for key in keys]
    assert all(KEEP - 60 < ttl <= KEEP for ttl in ttls), dict(zip(keys, ttls))
    # a month on, c-old (day 0) is past retention: not found, and dropped when the word is next written
    clock.now = T0 + KEEP + DAY // 2
    assert where(await index.search(SearchQuery(text="还款"))) == [("c-new", "customer", 0), ("c-mid", "agent", 0)]
    pipe = client.pipeline(transaction=True)
    index.stage(pipe, said("c-late", "customer", 0, "今天还款"))
    await pipe.execute()
    members = await client.zrange(index.key("t", "还款"), 0, -1)
    assert "c-old customer 0" not in members and "c-late customer 0" in members


async def test_through_the_event_bus(redis_server):
    """The index as one of the bus's projections: the event and its postings in one transaction,
    identifying numbers masked before they are indexed."""
    warm_up()
    client = async_client(redis_server.url)
    index = SearchIndex(client, prefix=f"srch-{uuid.uuid4().hex[:8]}:")
    bus = EventBus(client, projections=[index])
    call_id = f"bus-{uuid.uuid4().hex[:6]}"
    await bus.append(CallEvent(call_id=call_id, state="started", agent_id="a9", case_id="K9"))
    await bus.append(said(call_id, "customer", 0, "我的卡号是6222021234567890123，我想办停息分期"))
    results = await index.search(SearchQuery(text="停息分期", agent_scope="a9"))
    assert where(results) == [(call_id, "customer", 0)]
    assert "6222021234567890123" not in results.hits[0].text
    assert (await index.search(SearchQuery(text="6222021234567890123"))).hits == []
    keys = [key async for key in client.scan_iter(match=f"{index.prefix}*")]
    await client.delete(*keys, f"call:{call_id}:events")
    await client.aclose()


def test_the_query_and_the_index_cut_alike():
    warm_up()
    assert query_terms("信用卡中心的最低还款额") == ["信用卡中心", "最低还款额"]
    assert {"信用", "信用卡", "信用卡中心", "还款", "最低还款额"} <= set(index_terms("信用卡中心的最低还款额"))
    assert index_terms("ＡＢＣ卡，１２０００元！") == ["abc", "卡", "12000", "元"]
