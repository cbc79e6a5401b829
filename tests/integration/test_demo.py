"""`ferryman demo` (the README's main job) end to end, on the shortest corpus call: real model,
embedded Redis, and the two printed pages open in Chromium while the call streams."""

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

pytestmark = [pytest.mark.integration, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"


async def watch_pages(agent_url: str, wall_url: str) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        agent = await browser.new_page(viewport={"width": 1280, "height": 800})
        wall = await browser.new_page(viewport={"width": 1280, "height": 800})
        await agent.goto(agent_url)
        await wall.goto(wall_url)
        await expect(agent.locator("#brief-customer")).to_contain_text("孙丽", timeout=30_000)
        await expect(wall.locator("tr.call-row")).to_contain_text("王敏", timeout=30_000)
        # d06's agent threatens: the card reaches the panel live, through the real ASR
        await expect(agent.locator('[data-code="agent_compliance"]').first).to_be_visible(timeout=90_000)
        await expect(agent.locator("#transcript li").first).to_be_visible()
        await expect(wall.locator('#feed [data-code="agent_compliance"]').first).to_be_visible()
        await browser.close()


def test_demo_streams_a_call_into_the_printed_pages_and_exits(tmp_path, corpus, free_port):
    assert Path(CHROMIUM).exists(), "`./run.sh test` installs Debian's chromium"
    env = {**os.environ, "FERRYMAN_DATA_DIR": str(tmp_path), "FERRYMAN_AUDIOSOCKET_PORT": "0",
           "FERRYMAN_DEMO_CALL": str(corpus / "d06.json")}
    env.pop("FERRYMAN_REDIS_URL", None)
    log = tmp_path / "demo.log"    # a file, not a pipe: the server's log must never block it
    env.pop("FERRYMAN_PORT", None)
    demo = subprocess.Popen([sys.executable, "-m", "ferryman.cli", "demo", "--speed", "3", "--exit", "--lead-in", "3",
                             "--port", str(free_port)],
                            env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    try:
        head = []
        while not any("supervisor wall:" in line for line in head):
            line = demo.stdout.readline()
            assert line, f"demo ended before printing its pages: {log.read_text()[-2000:]}"
            head.append(line)
        text = "".join(head)
        agent_url = re.search(rf"agent panel: +(http://127\.0\.0\.1:{free_port}/ui/agent\.html#token=\S{{16,}})", text)
        wall_url = re.search(r"supervisor wall: +(http://127\.0\.0\.1:\d+/ui/supervisor\.html#token=\S{16,})", text)
        assert agent_url and wall_url, text
        asyncio.run(watch_pages(agent_url.group(1), wall_url.group(1)))
        rest, _ = demo.communicate(timeout=300)
    finally:
        demo.kill()
    assert demo.returncode == 0, log.read_text()[-2000:]
    finals = re.findall(r"\] (坐席|客户): (.+)", rest)
    assert {who for who, _ in finals} == {"坐席", "客户"}
    assert "投诉" in "".join(text for who, text in finals if who == "客户")
    assert "提示（agent_compliance）" in rest
    assert "call finished" in rest
    assert not (tmp_path / "redis" / "url").exists(), "the embedded redis-server was not stopped"
