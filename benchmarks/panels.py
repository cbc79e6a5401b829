"""Panel latencies in a real headless Chromium, and the README screenshots.

Two calls are live on one server (d01 for agent a1, d06 for agent a2, reference turns, no ASR);
the agent panel of a1 and the supervisor wall are open at 1280x800. For every turn of d01 that
raises hints, it measures the time from the turn being handed to the pipeline (hint engine,
Redis, socket, page included) until the agent panel shows every hint of that turn; and the
time from the supervisor pressing "发送指导" until the message is on the agent panel.

    .venv/bin/python benchmarks/panels.py [--screenshots docs/]

Prints numbers; asserts nothing about them.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import async_playwright

from ferryman.hints import prepare as prepare_hints
from ferryman.settings import PROJECT_ROOT, Settings
from ferryman.web.app import create_app

sys.path.insert(0, str(PROJECT_ROOT / "tests"))
from support import BackgroundServer, PublishedReplay  # noqa: E402  (test scaffolding, not the product)

CORPUS = PROJECT_ROOT.parent / "shared" / "corpus" / "calls"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
TOKENS = {"bench-agent-1": {"role": "agent", "agent_id": "a1", "name": "王敏"},
          "bench-agent-2": {"role": "agent", "agent_id": "a2", "name": "李强"},
          "bench-supervisor": {"role": "supervisor", "name": "张磊"},
          "bench-gateway": {"role": "gateway"}}
SHOWN_HINTS = "document.querySelectorAll('#primary .card, #older li.hint-item').length"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def summary(seconds: list[float]) -> str:
    ms = sorted(v * 1000 for v in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, max {ms[-1]:.0f} ms"


async def put_case(server, replay) -> None:
    import httpx

    httpx.put(f"{server.http}/api/cases/{replay.case.case_id}", json=replay.case.model_dump(mode="json"),
              headers={"Authorization": "Bearer bench-gateway"}).raise_for_status()


async def run(shots: Path | None, verbose: bool) -> None:
    prepare_hints()
    data = Path(tempfile.mkdtemp(prefix="ferryman-bench-"))
    settings = Settings(data_dir=data, redis_url=None, port=free_port(), audiosocket_port=0, tokens=TOKENS)
    with BackgroundServer(create_app(settings), settings.port) as server:
        url = server.app.state.services.embedded_redis.url
        d01 = PublishedReplay(url, CORPUS / "d01.json", f"bench-d01-{int(time.time())}", "a1", data / "spill",
                              node_id=settings.node_name())
        d06 = PublishedReplay(url, CORPUS / "d06.json", f"bench-d06-{int(time.time())}", "a2", data / "spill",
                              node_id=settings.node_name())
        for replay in (d01, d06):
            await put_case(server, replay)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            agent = await browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
            wall = await browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
            await agent.goto(f"{server.http}/ui/agent.html#token=bench-agent-1")
            await wall.goto(f"{server.http}/ui/supervisor.html#token=bench-supervisor")
            await d06.start()
            await d06.play_until(lambda e: e.final and "坐牢" in e.text)     # the other call: a threat
            await d01.start()
            await agent.wait_for_selector("#brief-body:not([hidden])")

            hint_latency, turns = [], 0
            screenshot_taken = False
            for turn in [e for e in d01.replay.remaining if e.final]:
                before = len([e for e in await d01.events() if e.type == "hint"])
                started = time.perf_counter()
                await d01.play_until(lambda e, turn=turn: e is turn)
                hints = len([e for e in await d01.events() if e.type == "hint"])
                if hints > before:
                    await agent.wait_for_function(f"() => {SHOWN_HINTS} >= {hints}", polling="raf")
                    hint_latency.append(time.perf_counter() - started)
                    if verbose:
                        print(f"  {hint_latency[-1] * 1000:4.0f} ms  {turn.text[:24]}")
                turns += 1
                if "家里人能不能" in turn.text and shots and not screenshot_taken:
                    await wall.locator(f'tr.call-row[data-call="{d01.call_id}"] button.open').click()
                    await wall.wait_for_selector("#drill-transcript li")
                    shots.mkdir(parents=True, exist_ok=True)
                    await agent.screenshot(path=str(shots / "agent-panel.png"))              # 1280x800
                    await agent.set_viewport_size({"width": 1920, "height": 1080})
                    await agent.screenshot(path=str(shots / "agent-panel-1920.png"))
                    await agent.set_viewport_size({"width": 1280, "height": 800})
                    await wall.screenshot(path=str(shots / "supervisor-wall.png"))
                    screenshot_taken = True

            coach_latency = []
            if not screenshot_taken:          # the drill-in (a side panel now) is already open for the shots
                await wall.locator(f'tr.call-row[data-call="{d01.call_id}"] button.open').click()
            for i in range(10):
                text = f"第{i + 1}条指导：先共情，再谈还款"
                await wall.locator("#coach-text").fill(text)
                started = time.perf_counter()
                await wall.locator("#coach-form button").click()
                await agent.wait_for_function(
                    f"() => document.getElementById('coach-text').textContent === {text!r}", polling="raf")
                coach_latency.append(time.perf_counter() - started)
            await d01.close()
            await d06.close()
            await browser.close()

    print(f"d01: {turns} turns, {len(hint_latency)} with hints")
    print(f"turn -> hints on the agent panel: {summary(hint_latency)}")
    print(f"coaching -> agent panel ({len(coach_latency)} messages): {summary(coach_latency)}")
    if shots:
        print(f"screenshots: {shots / 'agent-panel.png'}, {shots / 'agent-panel-1920.png'}, "
              f"{shots / 'supervisor-wall.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screenshots", type=Path, help="save both pages mid-call (the family turn) here")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each turn's latency")
    args = parser.parse_args()
    asyncio.run(run(args.screenshots, args.verbose))


if __name__ == "__main__":
    main()
