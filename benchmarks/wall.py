"""The supervisor wall with a simulated floor of N live calls, in a real headless Chromium, and
its screenshots at 1280x800 and 1920x1080.

Each simulated call is one of the corpus calls (d01–d08, under another customer's name and its
own case id) whose reference turns go through the real hint engine (no ASR, no audio) into the
server's Redis, stopped at a different turn for each call, so moods, hints and transcripts are
the real ones; the call is dated back to the second of its last turn (plus a few seconds), as if
the wall had been open all along. Some agents have read their critical cards, some promises are
confirmed, a few calls have ended (最近结束), one agent got a coaching message.

Prints: how long the wall takes to show every row, how many rows are on screen without
scrolling at each size and their height, the drill-in's height opened from the first and the
last row, and how long a new critical card takes to turn a calm row red. Asserts nothing.

    .venv/bin/python benchmarks/wall.py [--calls 30] [--ended 6] [--screenshots docs]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from ferryman.bus.streams import BusSink, EventBus
from ferryman.cases.schema import load_case_file
from ferryman.events import AckEvent, CoachEvent, Evidence, HintEvent, MoodEvent, PromiseEvent
from ferryman.hints import prepare as prepare_hints
from ferryman.infra.redis import async_client
from ferryman.records.summaries import call_key
from ferryman.replay import TranscriptReplay
from ferryman.settings import PROJECT_ROOT, Settings
from ferryman.web.app import create_app

sys.path.insert(0, str(PROJECT_ROOT / "tests"))
from support import BackgroundServer, free_port  # noqa: E402  (test scaffolding, not the product)

CORPUS = PROJECT_ROOT.parent / "shared" / "corpus" / "calls"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
AGENTS = """
    王敏 李强 张伟 刘洋 陈静 杨帆 赵磊 黄丽 周涛 吴婷 徐明 孙悦 马超 朱琳 胡军 郭佳 何勇 高洁 林峰 罗敏
    郑凯 梁雪 谢东 宋颖 唐杰 韩梅 冯刚 邓娟 曹阳 彭飞 曾静 肖鹏 田甜 董浩 袁媛 潘伟 蒋欣 蔡明 余航 杜娟
    叶青 程亮 苏晴 魏巍 吕强 丁宁 任洁 沈浩 姚瑶 卢斌 欧阳晓彤 司马文博
""".split()
CUSTOMERS = """
    王建国 李娜 张伟 刘洋 赵强 孙丽 陈静 周杰 钱国栋 吴秀英 郑志强 冯丽娟 陈海涛 褚晓燕 卫国庆 蒋春梅
    沈文斌 韩桂兰 杨建华 朱美玲 秦德明 尤小红 许振华 何淑芬 吕长青 施玉兰 张家豪 孔令辉 曹雪芹 严红霞 华永强 金秀珍
    魏光明 陶桂芳 姜文涛 戚美华 谢志伟 邹丽萍 喻国华 柏秀兰 水建平 窦海燕 章明辉 云淑珍 苏建军 潘美玲 葛志刚 奚红梅
    范德胜 彭丽华 欧阳建国（某某贸易有限公司） 诸葛明远
""".split()
TOKENS = {"bench-supervisor": {"role": "supervisor", "name": "张组长"}, "bench-gateway": {"role": "gateway"},
          **{f"bench-agent-{i}": {"role": "agent", "agent_id": f"a-{301 + i}", "name": name}
             for i, name in enumerate(AGENTS)}}
SIZES = [(1280, 800), (1920, 1080)]


class SimulatedFloor:
    """N calls published into the server's Redis through the real hint engine."""

    def __init__(self, server, data: Path, seed: int = 13):
        svc = server.app.state.services
        self.server, self.node = server, svc.settings.node_name()
        self.redis = async_client(svc.embedded_redis.url)
        self.bus = EventBus(self.redis)
        self.spill = data / "spill"
        self.random = random.Random(seed)
        self.replays: dict[str, tuple[TranscriptReplay, BusSink]] = {}
        self.run = f"{int(time.time()) % 100000:05d}"

    def put_case(self, case) -> None:
        httpx.put(f"{self.server.http}/api/cases/{case.case_id}", json=case.model_dump(mode="json"),
                  headers={"Authorization": "Bearer bench-gateway"}).raise_for_status()

    async def call(self, i: int, finished: bool = False) -> str:
        """Call ``i``: corpus call d0(i % 8 + 1) for agent a-(301 + i), played to a turn chosen at
        random (to its end when ``finished``), dated back to that turn."""
        source = CORPUS / f"d0{i % 8 + 1}.json"
        corpus_case = load_case_file(source)
        case = corpus_case.model_copy(update={
            "case_id": f"{corpus_case.case_id}-W{self.run}{i:02d}",
            "customer": corpus_case.customer.model_copy(update={"name": CUSTOMERS[i % len(CUSTOMERS)]})})
        self.put_case(case)
        call_id = f"wall-{self.run}-{i:02d}"
        sink = BusSink(self.bus, self.spill)
        replay = TranscriptReplay(source, case, sink, call_id=call_id, agent_id=f"a-{301 + i % len(AGENTS)}")
        await replay.start()
        await sink.flush()
        await self.bus.adopt(call_id, self.node, 0.0)
        finals = [e for e in replay.remaining if e.final]
        stop = finals[-1] if finished else finals[self.random.randrange(1, len(finals))]
        await replay.play(until=lambda e: e is stop)
        await sink.flush()
        ago = stop.end + self.random.uniform(2, 25)
        if not finished and i % 3 == 2:     # a third have calmed down since: a while later, a calm turn
            ago += self.random.uniform(60, 240)
            await self.bus.append(MoodEvent(call_id=call_id, score=0.1, level="calm", t=ago - 2))
        # as if it had started when its last turn says: the wall's clock and the call's agree
        await self.redis.hset(call_key(call_id), "started_at", time.time() - ago)
        self.replays[call_id] = (replay, sink)
        return call_id

    async def events(self, call_id: str) -> list:
        return await self.bus.read_after(call_id, count=100_000)

    async def agents_read_cards(self, call_id: str) -> None:
        for event in await self.events(call_id):
            if event.type == "hint" and event.severity == "critical":
                await self.bus.append(AckEvent(call_id=call_id, hint_id=event.id, by="坐席", t=event.t + 3,
                                               card_code=event.code, card_t=event.t))

    async def confirm_promise(self, call_id: str) -> bool:
        hints = [e for e in await self.events(call_id) if e.type == "hint" and e.code == "promise_to_pay"]
        promise = hints[-1].data.get("promise") if hints else None
        if not promise or promise.get("amount") is None:
            return False
        await self.bus.append(PromiseEvent(call_id=call_id, status="confirmed", amount=promise["amount"],
                                           due=promise.get("due") or date.today().isoformat(), hint_id=hints[-1].id,
                                           case_id=hints[-1].data.get("case_id"), by="坐席", t=hints[-1].t + 8))
        return True

    async def coach(self, call_id: str, text: str) -> None:
        t = max(e.t for e in await self.events(call_id))
        await self.bus.append(CoachEvent(call_id=call_id, text=text, by="张组长", t=t + 1))

    async def critical_card(self, call_id: str) -> None:
        t = max(e.t for e in await self.events(call_id))
        await self.bus.append(HintEvent(
            call_id=call_id, code="agent_compliance", severity="critical", priority=1, title="合规提醒：威胁恐吓",
            detail="坐席话术涉及威胁", suggestion="立即停止，改为说明还款方案", t=t + 1,
            evidence=Evidence(channel="agent", text="再不还就……")))

    async def end(self, call_id: str) -> None:
        replay, sink = self.replays.pop(call_id)
        await replay.finish()
        await sink.close()

    async def close(self) -> None:
        for call_id in list(self.replays):
            await self.end(call_id)
        await self.redis.aclose()


def summary(seconds: list[float]) -> str:
    ms = sorted(v * 1000 for v in seconds)
    return f"p50 {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms"


async def measure(wall, rows: str, size: tuple[int, int]) -> str:
    width, height = size
    boxes = await wall.locator(rows).evaluate_all(
        "rs => rs.map(r => { const b = r.getBoundingClientRect(); return [b.top, b.bottom, b.height]; })")
    on_screen = sum(bottom <= height for _, bottom, _ in boxes)
    drill = []
    for which in ("first", "last"):
        row = getattr(wall.locator(rows), which)
        await row.locator("td.agent").click()
        await wall.wait_for_selector("#drill:not([hidden])")
        drill.append((await wall.locator("#drill").bounding_box())["height"])
        await wall.locator("#drill-close").click()
    return (f"{width}x{height}: {on_screen} of {len(boxes)} rows on screen, row height {boxes[0][2]:.0f} px;"
            f" drill-in height {drill[0]:.0f} px from the first row, {drill[1]:.0f} px from the last")


async def run(calls: int, ended: int, shots: Path | None) -> None:
    prepare_hints()
    data = Path(tempfile.mkdtemp(prefix="ferryman-wall-"))
    settings = Settings(data_dir=data, redis_url=None, port=free_port(), audiosocket_port=0, tokens=TOKENS)
    with BackgroundServer(create_app(settings), settings.port) as server:
        floor = SimulatedFloor(server, data)
        started = time.perf_counter()
        for i in range(calls, calls + ended):                     # these ended a while ago
            await floor.end(await floor.call(i, finished=True))
        live = [await floor.call(i) for i in range(calls)]
        for call_id in live[::4]:
            await floor.agents_read_cards(call_id)
        confirmed = sum([await floor.confirm_promise(call_id) for call_id in live[::2]])
        await floor.coach(live[1], "先共情，别再提家人，引导到违约金减免")
        print(f"floor: {calls} live calls, {ended} ended, {confirmed} promises confirmed,"
              f" published in {time.perf_counter() - started:.1f} s")

        rows = f'#calls-body tr.call-row[data-call^="wall-{floor.run}-"]'
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            wall = await browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
            opened = time.perf_counter()
            await wall.goto(f"{server.http}/ui/supervisor.html#token=bench-supervisor")
            await wall.locator(rows).nth(calls - 1).wait_for()     # (the page's CSP allows no eval)
            print(f"wall opened -> {calls} rows shown: {(time.perf_counter() - opened) * 1000:.0f} ms")

            for size in SIZES:
                await wall.set_viewport_size({"width": size[0], "height": size[1]})
                print(await measure(wall, rows, size))
                if shots:
                    shots.mkdir(parents=True, exist_ok=True)
                    await wall.locator(".calls-scroll").evaluate(         # the top of the table, no focus ring
                        "e => { e.scrollTop = 0; document.activeElement?.blur(); }")
                    if size == (1920, 1080):      # the drill-in opened from a row near the bottom
                        await wall.locator(rows).nth(calls - 3).locator("td.agent").click()
                        await wall.wait_for_selector("#drill-transcript li")
                        await wall.wait_for_timeout(300)
                    await wall.screenshot(path=str(shots / f"wall-{size[0]}.png"))
                    print(f"screenshot: {shots / f'wall-{size[0]}.png'}")
            if await wall.locator("#drill").is_visible():
                await wall.locator("#drill-close").click()
            await wall.set_viewport_size({"width": 1280, "height": 800})
            latency = []
            calm = await wall.locator(f"{rows}:not(.critical)").evaluate_all("rs => rs.map(r => r.dataset.call)")
            for call_id in calm[:10]:
                begun = time.perf_counter()
                await floor.critical_card(call_id)
                await wall.wait_for_selector(f'tr.call-row.critical[data-call="{call_id}"]')
                latency.append(time.perf_counter() - begun)
            if latency:
                print(f"critical card -> row red ({len(latency)} calls): {summary(latency)}")
            await browser.close()
        await floor.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=30, help="live calls on the floor (default 30)")
    parser.add_argument("--ended", type=int, default=6, help="calls that ended before the wall opened (default 6)")
    parser.add_argument("--screenshots", type=Path, help="write wall-1280.png and wall-1920.png here")
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.ended, args.screenshots))


if __name__ == "__main__":
    main()
