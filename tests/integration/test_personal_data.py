"""A call in which the customer reads out an ID, a phone and a card number (digits and Chinese
numerals, grouped): afterwards no clear copy anywhere — every Redis key, the AOF, spill files,
the log, and what the panels received."""

import asyncio
import json
import logging

import pytest
import redis

from ferryman.client import follow_call, put_case, stream_transcript
from ferryman.events import TranscriptEvent

pytestmark = pytest.mark.integration

ID_NUMBER = "44030419850612345" + "10X98765432"[sum(int(d) * w for d, w in zip(
    "44030419850612345", (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2))) % 11]
PHONE = "13912345678"
CARD = "6222021234567890123"
CN = dict(zip("0123456789X", ["零", "幺", "二", "三", "四", "五", "六", "七", "八", "九", "叉"]))
SAID = [
    f"我身份证号是{ID_NUMBER}，你核对一下",
    f"手机号换了，新的是{PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}",
    f"你记一下，{''.join(CN[d] for d in PHONE)}",
    f"我用这张卡还，卡号{CARD}",
    f"卡号是{'，'.join([''.join(CN[d] for d in CARD[i:i + 4]) for i in range(0, 19, 4)])}",
]


def clear_forms() -> list[str]:
    """Every way the three numbers could sit in clear in stored text."""
    forms = []
    for number in (ID_NUMBER, PHONE, CARD):
        forms += [number, number[:-4]]                          # whole, or all but the kept four
        forms.append("".join(CN[d] for d in number[:-4]))       # spoken
    forms += [f"{PHONE[:3]} {PHONE[3:7]}", "".join(CN[d] for d in CARD[:4])]
    return forms


@pytest.fixture
def numbers_call(tmp_path, corpus):
    call = json.loads((corpus / "d06.json").read_text(encoding="utf-8"))
    t = 1.0
    turns = []
    for text in SAID:
        turns += [{"spk": "A", "start": t, "end": t + 1.0, "text": "好的，请您说。"},
                  {"spk": "C", "start": t + 1.2, "end": t + 3.0, "text": text}]
        t += 3.5
    call["turns"] = turns
    path = tmp_path / "numbers.json"
    path.write_text(json.dumps(call, ensure_ascii=False), encoding="utf-8")
    return path, call["case"]["case_id"]


def test_no_clear_copy_of_an_identifying_number_anywhere(server, numbers_call, caplog):
    from ferryman.cases.schema import load_case_file

    path, case_id = numbers_call
    received = []
    caplog.set_level(logging.DEBUG)

    async def scenario():
        base = server.ws
        await put_case(base, load_case_file(path), server.token["gateway"])
        follower = asyncio.create_task(follow_call(base, "pii-call-1", received.append, server.token["supervisor"]))
        await stream_transcript(base, "pii-call-1", case_id, path, server.token["gateway"])
        await asyncio.wait_for(follower, 20)

    asyncio.run(scenario())
    finals = [e for e in received if isinstance(e, TranscriptEvent) and e.final and e.channel == "customer"]
    assert len(finals) == len(SAID) and all("*" in e.text for e in finals)        # the turns went through
    assert finals[0].text.endswith(f"{ID_NUMBER[-4:]}，你核对一下")                # the last four kept

    svc = server.app.state.services
    client = redis.Redis.from_url(svc.embedded_redis.url, decode_responses=True)
    stored = [json.dumps(dump(client, key), ensure_ascii=False) for key in client.scan_iter(count=1000)]
    files = [p for p in svc.embedded_redis.data_dir.rglob("*") if p.is_file()]
    files += [p for p in (svc.settings.data_dir / "spill").rglob("*") if p.is_file()]
    on_disk = [p.read_bytes().decode("utf-8", errors="replace") for p in files]
    logs = [r.getMessage() for r in caplog.records]
    panels = [e.to_json() for e in received]

    for where, texts in [("redis", stored), ("disk", on_disk), ("logs", logs), ("panels", panels)]:
        leaks = [form for form in clear_forms() for text in texts if form in text]
        assert not leaks, f"clear copies in {where}: {sorted(set(leaks))}"
    assert any("appendonly" in p.name or p.suffix == ".aof" for p in files)     # the AOF was scanned


def dump(client: redis.Redis, key: str):
    kind = client.type(key)
    if kind == "string":
        return client.get(key)
    if kind == "hash":
        return client.hgetall(key)
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "set":
        return sorted(client.smembers(key))
    if kind == "zset":
        return client.zrange(key, 0, -1, withscores=True)
    if kind == "stream":
        return client.xrange(key)
    return kind
