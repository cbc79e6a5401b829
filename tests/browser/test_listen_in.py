"""Listen-in in a real headless Chromium: a live call's audio (real audio through the real server)
reaches a supervisor's page and plays on its AudioContext; an agent may not listen; every listen
is on the call's record."""

import asyncio
import json
import uuid

import httpx
import pytest
import websockets
from browser_helpers import open_page
from playwright.async_api import expect

from ferryman.cases.schema import load_case_file
from ferryman.ingest.audio import ASR_RATE, encode_pcm16, interleave
from ferryman.ingest.sources import read_stereo, stereo_blocks

pytestmark = [pytest.mark.browser, pytest.mark.integration]
SECONDS = 9.0


async def stream_for(server, corpus, call_id: str, seconds: float) -> None:
    """d06's first ``seconds`` of audio through the ingest socket at real time, then stop."""
    case = load_case_file(corpus / "d06.json")
    httpx.put(f"{server.http}/api/cases/{case.case_id}", json=case.model_dump(mode="json"),
              headers=server.headers("gateway")).raise_for_status()
    agent, customer = read_stereo(corpus / "d06.flac")
    end = int(seconds * ASR_RATE)
    loop = asyncio.get_running_loop()
    async with websockets.connect(f"{server.ws}/ws/ingest/{call_id}") as ws:
        await ws.send(json.dumps({"type": "start", "token": server.token["gateway"], "case_id": case.case_id,
                                  "agent_id": "a1", "sample_rate": ASR_RATE, "encoding": "pcm_s16le", "channels": 2}))
        await ws.recv()
        began, sent = loop.time(), 0
        for block in stereo_blocks(agent[:end], customer[:end], 0.1):
            await ws.send(encode_pcm16(interleave(block.agent, block.customer)))
            sent += len(block.agent)
            await asyncio.sleep(max(0.0, began + sent / ASR_RATE - loop.time()))
        await ws.send(json.dumps({"type": "stop"}))
        await ws.recv()


LISTEN = """async ([callId, token]) => {
  const { Listener } = await import("./listen.js");
  const summary = await (await fetch(`/api/calls/${callId}`, { headers: { Authorization: `Bearer ${token}` } })).json();
  const button = document.createElement("button");
  button.id = "test-listen";
  button.textContent = "listen";
  button.onclick = () => {
    window.listener = new Listener(callId, token, {
      startedAt: summary.started_at, onStatus: (state, code) => { window.listenStatus = `${state} ${code ?? ""}`; },
    });
    window.listener.start();
  };
  document.body.append(button);
}"""


async def test_a_supervisor_hears_the_live_call_and_the_listen_is_recorded(browser, server, corpus):
    call_id = f"listen-{uuid.uuid4().hex[:8]}"
    streaming = asyncio.create_task(stream_for(server, corpus, call_id, SECONDS))
    wall = await open_page(browser, server, "supervisor.html", server.token["supervisor"])
    row = wall.locator(f'tr.call-row[data-call="{call_id}"]')
    await expect(row).to_have_count(1)
    await row.locator("button.open").click()                        # the drill-in, then 监听 (a click: may play)
    await wall.locator("#listen").click()
    await expect(wall.locator("#listen")).to_have_attribute("aria-pressed", "true")
    await wall.wait_for_function("() => window.ferrymanListener?.stats.chunks >= 10", timeout=15_000)
    first = await wall.evaluate("() => [window.ferrymanListener.ctx.currentTime, window.ferrymanListener.stats.seconds]")
    await asyncio.sleep(1.0)
    later = await wall.evaluate("() => [window.ferrymanListener.ctx.currentTime, window.ferrymanListener.stats.seconds, "
                                "window.ferrymanListener.stats.lagS, window.ferrymanListener.ctx.state]")
    assert later[0] > first[0] + 0.5 and later[3] == "running"     # the audio context plays on
    assert later[1] > first[1]                                     # and audio keeps arriving
    print(f"listen-in: {later[1]:.1f} s of audio received, heard {later[2]:.2f} s behind the call")

    # an agent may not listen in (the socket refuses the role)
    agent = await open_page(browser, server, "agent.html", server.token["agent"])
    await agent.evaluate(LISTEN, [call_id, server.token["agent"]])
    await agent.locator("#test-listen").click()
    await agent.wait_for_function("() => window.listenStatus?.startsWith('refused')", timeout=10_000)
    assert "4403" in await agent.evaluate("() => window.listenStatus")

    await wall.locator("#listen").click()                          # 停止监听
    await expect(wall.locator("#listen")).to_have_text("监听")
    await asyncio.sleep(0.5)
    await streaming
    history = httpx.get(f"{server.http}/api/calls/{call_id}/record", headers=server.headers()).json()
    assert [(listen["state"], listen["by"]) for listen in history["listens"]] == [("started", "张组长"),
                                                                                  ("stopped", "张组长")]
    assert wall.page_errors == []
