"""The supervisor wall with a floor of 20–50 calls, in a real headless Chromium against the real
server and Redis: compact rows that fit, sort and filter, a row colour that is the call's state
now (decaying in call time), acknowledged critical cards and confirmed promises on the row, a
feed with clock times and a level filter, ended calls in 最近结束 with a link to their record,
and a drill-in that always has room, hidden until a call is chosen."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import httpx
import pytest
import pytest_asyncio
from browser_helpers import open_page
from playwright.async_api import expect

from ferryman.bus.streams import EventBus
from ferryman.cases.schema import load_case_file
from ferryman.events import AckEvent, CallEvent, Evidence, HintEvent, MoodEvent, PromiseEvent, TranscriptEvent
from ferryman.infra.redis import async_client

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = ["建国", "秀英", "志强", "丽娟", "海涛", "晓燕", "国庆", "春梅", "文斌", "桂兰"]
LONG_NAME = "欧阳建国（长沙市芙蓉区某某贸易有限公司法人代表）"
MOODS = {"calm": 0.1, "tense": 0.5, "angry": 0.9}
TITLES = {"critical": "避免话题：家人", "warning": "客户情绪激动", "info": "欠款明细：共 110,000 元"}
CODES = {"critical": "avoid_topic", "warning": "escalation", "info": "debt_breakdown"}


class Floor:
    """Calls published straight into the test server's Redis, a few events each (no pipeline):
    started, adopted by the server's node (else the floor ends them as orphans), a mood, cards at
    chosen seconds of call time. Every call still live is ended by ``close``."""

    def __init__(self, server, corpus):
        svc = server.app.state.services
        self.server, self.node = server, svc.settings.node_name()
        self.redis = async_client(svc.embedded_redis.url)
        self.bus = EventBus(self.redis)
        self.template = load_case_file(corpus / "d01.json")
        self.tag = uuid.uuid4().hex[:6]
        self.live: dict[str, float] = {}      # call id -> its latest t

    def call_id(self, i: int) -> str:
        return f"wall-{self.tag}-{i:02d}"

    def put_case(self, case_id: str, customer: str) -> None:
        case = self.template.model_copy(update={
            "case_id": case_id, "customer": self.template.customer.model_copy(update={"name": customer})})
        httpx.put(f"{self.server.http}/api/cases/{case_id}", json=case.model_dump(mode="json"),
                  headers=self.server.headers("gateway")).raise_for_status()

    async def start(self, i: int, customer: str, agent_id: str) -> str:
        call_id = self.call_id(i)
        case_id = f"WALL-{self.tag}-{i:02d}"
        self.put_case(case_id, customer)
        await self.bus.append(CallEvent(call_id=call_id, state="started", case_id=case_id, agent_id=agent_id, t=0.0))
        await self.bus.adopt(call_id, self.node, 0.0)
        self.live[call_id] = 0.0
        return call_id

    async def _append(self, event) -> str:
        self.live[event.call_id] = max(self.live.get(event.call_id, 0.0), event.t)
        return await self.bus.append(event)

    async def mood(self, call_id: str, level: str, t: float) -> None:
        await self._append(MoodEvent(call_id=call_id, score=MOODS[level], level=level, t=t))

    async def card(self, call_id: str, severity: str, t: float, title: str | None = None) -> str:
        """A hint of ``severity`` at call second ``t``; returns its id in the call's stream."""
        return await self._append(HintEvent(
            call_id=call_id, code=CODES[severity], severity=severity, priority={"critical": 1}.get(severity, 5),
            title=title or TITLES[severity], detail="测试", suggestion="测试", t=t,
            evidence=Evidence(channel="customer", text="你们别再打了")))

    async def ack(self, call_id: str, hint_id: str, t: float) -> None:
        """As the ack route writes it: naming the card's code and call second."""
        card = await self.bus.event(call_id, hint_id)
        await self._append(AckEvent(call_id=call_id, hint_id=hint_id, by="测试坐席", t=t, card_code=card.code,
                                    card_t=card.t))

    async def promise(self, call_id: str, amount: float, t: float) -> None:
        await self._append(PromiseEvent(call_id=call_id, status="confirmed", amount=amount, t=t,
                                        due=(date.today() + timedelta(days=7)).isoformat(), by="测试坐席"))

    async def say(self, call_id: str, channel: str, text: str, t: float) -> None:
        await self._append(TranscriptEvent(call_id=call_id, channel=channel, final=True, utterance=int(t),
                                           start=t - 2, end=t, text=text, t=t))

    async def end(self, call_id: str) -> None:
        t = self.live.pop(call_id)
        await self.bus.append(CallEvent(call_id=call_id, state="ended", t=t + 1.0))

    async def close(self) -> None:
        for call_id in list(self.live):
            await self.end(call_id)
        await self.redis.aclose()


@pytest_asyncio.fixture
async def floor(server, corpus):
    made = Floor(server, corpus)
    yield made
    await made.close()


async def populate(floor: Floor, first: int, count: int) -> dict[str, dict]:
    """``count`` live calls, numbered from ``first``: every third angry now with a fresh critical
    card, every third tense with a warning, the rest calm with an info card; call 3 has the long
    customer name, every sixth critical card was read by its agent, call 4 has a confirmed promise."""
    calls = {}
    for i in range(first, first + count):
        customer = LONG_NAME if i == 3 else f"{SURNAMES[i % len(SURNAMES)]}{GIVEN[i % len(GIVEN)]}"
        call_id = await floor.start(i, customer, agent_id=f"w-{i:02d}")
        kind = ("critical", "warning", "info")[i % 3]
        await floor.say(call_id, "agent", "您好，请问是本人吗？", 4.0)
        await floor.mood(call_id, {"critical": "angry", "warning": "tense", "info": "calm"}[kind], 30.0 + i)
        hint_id = await floor.card(call_id, kind, 30.0 + i)
        if kind == "critical" and i % 6 == 0:
            await floor.ack(call_id, hint_id, 31.0 + i)
        if i == 4:
            await floor.promise(call_id, 12000, 40.0)
        calls[call_id] = {"i": i, "kind": kind, "customer": customer, "agent": f"w-{i:02d}"}
    return calls


def mine(floor: Floor) -> str:
    return f'#calls-body tr.call-row[data-call^="wall-{floor.tag}-"]'


async def rows_of(wall, floor: Floor) -> list[dict]:
    return await wall.locator(mine(floor)).evaluate_all("""rows => rows.map(r => {
        const box = r.getBoundingClientRect();
        const td = r.querySelector('td.customer');
        return {id: r.dataset.call, cls: r.className, top: box.top, bottom: box.bottom, height: box.height,
                agent: r.querySelector('td.agent').textContent, lineHeight: parseFloat(getComputedStyle(td).lineHeight)};
    })""")


async def test_thirty_calls_fit_in_single_lines_at_1280x800_and_sort_and_filter(browser, server, floor):
    calls = await populate(floor, 0, 30)
    wall = await open_page(browser, server, "supervisor.html", server.token["supervisor"])
    await expect(wall.locator(mine(floor))).to_have_count(30)

    rows = await rows_of(wall, floor)
    assert all(r["height"] == rows[0]["height"] for r in rows), {r["height"] for r in rows}
    assert rows[0]["height"] < 1.6 * rows[0]["lineHeight"], rows[0]           # one line each, none wrapped
    assert sum(r["bottom"] <= 800 for r in rows) >= 20, [r["bottom"] for r in rows]
    assert await wall.evaluate("document.documentElement.scrollHeight <= innerHeight"
                               " && document.documentElement.scrollWidth <= innerWidth")
    long_row = wall.locator(f'tr.call-row[data-call="{floor.call_id(3)}"]')
    customer = long_row.locator("td.customer")
    assert await customer.get_attribute("title") == f"{LONG_NAME}（案件 WALL-{floor.tag}-03）"
    assert await customer.evaluate("td => td.scrollWidth > td.clientWidth"
                                   " && getComputedStyle(td).textOverflow === 'ellipsis'"
                                   " && getComputedStyle(td).whiteSpace === 'nowrap'")

    # severity now, the default: the ten angry calls with a fresh critical card first, unread before read
    ranks = [2 if "critical" in r["cls"] else 1 if "warning" in r["cls"] else 0 for r in rows]
    assert ranks == sorted(ranks, reverse=True) and ranks.count(2) == 10 and ranks.count(1) == 10, ranks
    read = [r["id"] for r in rows[:10] if calls[r["id"]]["i"] % 6 == 0]
    assert [r["id"] for r in rows[10 - len(read):10]] == read                   # read ones after the unread
    acked_row = wall.locator(f'tr.call-row[data-call="{floor.call_id(6)}"]')
    await expect(acked_row.locator("td.gravest .read-mark")).to_have_text("已读")
    await expect(wall.locator(f'tr.call-row[data-call="{floor.call_id(3)}"] td.gravest .read-mark')).to_have_text("未读")
    await expect(wall.locator(f'tr.call-row[data-call="{floor.call_id(3)}"] td.state')).to_contain_text("未读严重 1")
    await expect(wall.locator(f'tr.call-row[data-call="{floor.call_id(4)}"] td.state')).to_contain_text("✓承诺 12,000 元")

    # an ack and a promise arriving live land on their rows
    hint_id = (await floor.bus.read_after(floor.call_id(9)))[-1].id        # call 9's critical card
    await floor.ack(floor.call_id(9), hint_id, 50.0)
    await expect(wall.locator(f'tr.call-row[data-call="{floor.call_id(9)}"] td.gravest .read-mark')).to_have_text("已读")
    await floor.promise(floor.call_id(9), 3000, 55.0)
    await expect(wall.locator(f'tr.call-row[data-call="{floor.call_id(9)}"] td.state')).to_contain_text("✓承诺 3,000 元")

    await wall.locator("#sort").select_option("agent")
    await expect(wall.locator(mine(floor)).first).to_have_attribute("data-call", floor.call_id(0))
    assert [r["agent"] for r in await rows_of(wall, floor)] == [f"w-{i:02d}" for i in range(30)]
    await wall.locator("#sort").select_option("duration")                  # longest first: the first started
    assert [r["id"] for r in await rows_of(wall, floor)] == [floor.call_id(i) for i in range(30)]
    await wall.locator("#sort").select_option("mood")
    moods = [calls[r["id"]]["kind"] for r in await rows_of(wall, floor)]
    assert moods == ["critical"] * 10 + ["warning"] * 10 + ["info"] * 10, moods

    await wall.locator("#filter-level").select_option("critical")
    await expect(wall.locator(mine(floor))).to_have_count(10)
    assert all("critical" in r["cls"] for r in await rows_of(wall, floor))
    await wall.locator("#filter-level").select_option("unread")                 # 0, 6, 9, ... read
    await expect(wall.locator(mine(floor))).to_have_count(10 - 5 - 1)
    await wall.locator("#filter-level").select_option("all")
    await wall.locator("#filter-text").fill("欧阳")
    await expect(wall.locator(mine(floor))).to_have_count(1)
    await expect(wall.locator(mine(floor))).to_have_attribute("data-call", floor.call_id(3))
    await wall.locator("#filter-text").fill("w-07")
    await expect(wall.locator(mine(floor))).to_have_attribute("data-call", floor.call_id(7))
    await wall.locator("#filter-text").fill("")
    await expect(wall.locator(mine(floor))).to_have_count(30)
    assert wall.page_errors == []


async def test_the_drill_in_is_hidden_until_chosen_and_has_room_for_every_row(browser, server, floor):
    await populate(floor, 0, 30)
    wall = await open_page(browser, server, "supervisor.html", server.token["supervisor"])
    rows = wall.locator(mine(floor))
    await expect(rows).to_have_count(30)
    await expect(wall.locator("#drill")).to_be_hidden()
    await expect(wall.locator("#coach-form")).to_be_hidden()

    # 发送指导 with no call chosen says so (the form is hidden then: submitted as a script would)
    await wall.evaluate("document.getElementById('coach-text').value = '先共情';"
                        "document.getElementById('coach-form').requestSubmit()")
    await expect(wall.locator("#notice")).to_have_text("请先在通话列表中选择一通通话，再发送指导。")
    await expect(wall.locator("#notice")).to_be_visible()

    async def drill_from(row, viewport):
        await row.locator("td.agent").click()
        drill = wall.locator("#drill")
        await expect(drill).to_be_visible()
        await expect(wall.locator("#drill-title")).to_contain_text(await row.locator("td.agent").text_content())
        await expect(wall.locator("#drill-transcript li").first).to_contain_text("请问是本人吗")
        box = await drill.bounding_box()
        assert box["height"] >= 300 and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], box
        transcript = await wall.locator("#drill .transcript-box").bounding_box()
        assert transcript["height"] >= 200, transcript
        await expect(wall.locator("#coach-form button")).to_be_visible()
        await expect(row).to_have_attribute("aria-current", "true")
        await wall.locator("#drill-close").click()                          # 关闭 closes it
        await expect(drill).to_be_hidden()

    await drill_from(rows.last, {"width": 1280, "height": 800})
    await drill_from(rows.first, {"width": 1280, "height": 800})

    # 1920x1080 with fifty calls: every row on screen, the drill-in as tall from the last one
    await populate(floor, 30, 20)
    await wall.set_viewport_size({"width": 1920, "height": 1080})
    await expect(rows).to_have_count(50)
    assert all(r["bottom"] <= 1080 for r in await rows_of(wall, floor))
    assert await wall.evaluate("document.documentElement.scrollHeight <= innerHeight")
    await drill_from(rows.last, {"width": 1920, "height": 1080})
    await drill_from(rows.first, {"width": 1920, "height": 1080})

    # a coaching message from the drill-in still goes out
    await rows.first.locator("td.agent").click()
    await wall.locator("#coach-text").fill("先共情，再谈方案")
    await wall.locator("#coach-form button").click()
    await expect(wall.locator("#coach-status")).to_have_text("已发送")
    assert wall.page_errors == []


async def test_a_rows_colour_is_the_calls_state_now_and_an_old_critical_fades(browser, server, floor):
    """Ages in call time: the call's now is its latest t (200 s here, far ahead of the wall clock)."""
    wall = await open_page(browser, server, "supervisor.html", server.token["supervisor"])
    cases = {  # name: (critical card at t, mood at t=200) -> the row's class
        0: (5.0, "calm", "call-row"),                   # 195 s old: faded out
        1: (100.0, "calm", "call-row warning"),         # 100 s old: a critical counts as warning
        2: (190.0, "calm", "call-row critical"),        # 10 s old: critical
        3: (5.0, "angry", "call-row critical"),         # the customer is angry now
        4: (5.0, "tense", "call-row warning"),
    }
    for i, (card_t, mood, _) in cases.items():
        call_id = await floor.start(i, f"测试客户{i}", agent_id=f"w-{i:02d}")
        await floor.mood(call_id, "angry", 4.0)                           # once angry ...
        await floor.card(call_id, "critical", card_t)
        await floor.mood(call_id, mood, 200.0)                            # ... and now?
    for i, (_, _, cls) in cases.items():
        row = wall.locator(f'tr.call-row[data-call="{floor.call_id(i)}"]')
        await expect(row).to_have_class(cls)
    # the gravest card is still named, dimmed once it is old
    old = wall.locator(f'tr.call-row[data-call="{floor.call_id(0)}"] td.gravest')
    await expect(old).to_contain_text("避免话题：家人")
    await expect(old).to_have_class(re.compile(r"\bstale\b"))

    # a wall opened now rebuilds the same from the snapshot
    again = await open_page(browser, server, "supervisor.html", server.token["supervisor"])
    for i, (_, _, cls) in cases.items():
        await expect(again.locator(f'tr.call-row[data-call="{floor.call_id(i)}"]')).to_have_class(cls)

    # a fresh critical card turns the calm call red again
    await floor.card(floor.call_id(0), "critical", 205.0, title="投诉风险：高")
    await expect(wall.locator(f'tr.call-row[data-call="{floor.call_id(0)}"]')).to_have_class("call-row critical")
    assert wall.page_errors == [] and again.page_errors == []


async def test_the_feed_has_times_and_levels_and_ended_calls_move_to_recent(browser, server, floor):
    wall = await open_page(browser, server, "supervisor.html", server.token["supervisor"])
    await expect(wall.locator("#status")).to_have_text("已连接")
    call_id = await floor.start(0, "赵建国", agent_id="a1")
    await floor.mood(call_id, "tense", 10.0)
    for severity, t in (("info", 10.0), ("warning", 11.0), ("critical", 12.0)):
        await floor.card(call_id, severity, t)
    live = wall.locator(f'#feed-live li[data-call="{call_id}"]')
    await expect(live).to_have_count(2)                                    # 提示 hidden by default
    warning = wall.locator(f'#feed li[data-call="{call_id}"][data-code="escalation"]')
    await expect(warning.locator(".feed-time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    await expect(warning).to_contain_text("王敏 ↔ 赵建国")
    await expect(wall.locator(f'#feed li[data-call="{call_id}"][data-code="avoid_topic"] .read-mark')).to_have_text("未读")
    await expect(wall.locator(f'#feed li[data-call="{call_id}"][data-code="debt_breakdown"]')).to_have_count(0)
    await wall.locator("#feed-level-info").check()
    await expect(wall.locator(f'#feed li[data-call="{call_id}"][data-code="debt_breakdown"]')).to_be_visible()
    await expect(live).to_have_count(3)
    await wall.locator("#feed-level-warning").uncheck()
    await expect(live).to_have_count(2)

    await floor.end(call_id)                                               # hang-up
    row = wall.locator(f'tr.call-row[data-call="{call_id}"]')
    await expect(row).to_have_class(re.compile(r"\bended\b"))              # marked ended a short while
    recent = wall.locator(f'#recent li[data-call="{call_id}"]')
    await expect(recent).to_contain_text("王敏 ↔ 赵建国")
    await expect(recent.locator("a.record-link")).to_have_attribute("href", f"calls.html#call={call_id}")
    await expect(live).to_have_count(0)                                    # its alerts: with the ended calls
    await wall.locator("#feed-scope-ended").check()
    await expect(wall.locator(f'#feed-ended li[data-call="{call_id}"]').first).to_be_visible()

    # a wall opened after the hang-up lists it there too, and the link opens its record
    later = await open_page(browser, server, "supervisor.html", server.token["supervisor"])
    link = later.locator(f'#recent li[data-call="{call_id}"] a.record-link')
    await expect(link).to_be_visible()
    await expect(later.locator(f'tr.call-row[data-call="{call_id}"]')).to_have_count(0)
    async with later.context.expect_page() as opened:
        await link.click()
    record = await opened.value
    await expect(record.locator("#record")).to_be_visible()
    await expect(record.locator("#record")).to_contain_text("赵建国")
    assert wall.page_errors == [] and later.page_errors == []
