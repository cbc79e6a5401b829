"""``ferryman`` command line: serve | demo | replay | cases import | model install/check."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pydantic import ValidationError

from ferryman.settings import Settings, get_settings

log = logging.getLogger("ferryman")


class UsageError(Exception):
    pass


# Far above FERRYMAN_MAX_FRAME_BYTES: a frame between the two reaches the app, which answers it
# with 1009 and ends the call cleanly (the websocket layer would just cut the connection).
WS_MAX_MESSAGE_BYTES = 1 << 20


# -- serve / demo --------------------------------------------------------------------------
def _uvicorn_server(settings: Settings, access_log: bool = True):
    import uvicorn

    from ferryman.asr.model import check_model_dir
    from ferryman.hints import prepare as prepare_hints
    from ferryman.web.app import create_app
    from ferryman.web.auth import TokenBook

    check_model_dir(settings.model_dir)  # one clear message now, not a traceback at start-up
    TokenBook.from_settings(settings)    # same for a broken tokens file
    prepare_hints()

    config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                            log_level="info", ws_max_size=WS_MAX_MESSAGE_BYTES, access_log=access_log)
    return uvicorn.Server(config)


def _listen_on(args, settings: Settings) -> None:
    """``--host`` / ``--port`` over the settings (serve and demo)."""
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port


def _reachable_host(host: str) -> tuple[str, str]:
    """Where this process reaches its own server, and the name to print for people: a wildcard
    address (0.0.0.0, ::) is listened on, not connected to."""
    import socket

    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1", socket.gethostname()
    return host, host


def cmd_serve(args, settings: Settings) -> None:
    _listen_on(args, settings)
    _uvicorn_server(settings).run()


def _demo_tokens(settings: Settings) -> dict[str, str]:
    """Fresh random tokens for this demo run (added to whatever is configured)."""
    from ferryman.settings import AccessGrant

    tokens = {role: secrets.token_urlsafe(16) for role in ("agent", "supervisor", "gateway")}
    settings.tokens = {**settings.tokens,
                       tokens["agent"]: AccessGrant(role="agent", agent_id="demo-agent", name="王敏（演示坐席）"),
                       tokens["supervisor"]: AccessGrant(role="supervisor", name="张磊（演示组长）"),
                       tokens["gateway"]: AccessGrant(role="gateway", name="demo gateway")}
    return tokens


async def _demo(settings: Settings, call_json: Path, speed: float, exit_after: bool, lead_in_s: float) -> None:
    from ferryman.cases.schema import load_case_file
    from ferryman.client import follow_call, put_case, stream_audio

    audio = call_json.with_suffix(".flac")
    if not audio.is_file():
        raise UsageError(f"demo audio {audio} not found (set FERRYMAN_DEMO_CALL to a corpus call .json)")
    tokens = _demo_tokens(settings)
    server = _uvicorn_server(settings, access_log=False)   # the terminal shows the call instead
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # raises the start-up error (model, redis, port)
            raise UsageError("the server stopped during start-up")
        await asyncio.sleep(0.1)
    local, shown = _reachable_host(settings.host)
    base = f"ws://{local}:{settings.port}"
    ui = f"http://{shown}:{settings.port}/ui"
    case = load_case_file(call_json)
    await put_case(base, case, tokens["gateway"])
    call_id = f"demo-{call_json.stem}-{time.strftime('%H%M%S')}"
    print(f"\n  Ferryman demo: call {call_id} (case {case.case_id}, customer {case.customer.name})\n"
          f"  agent panel:     {ui}/agent.html#token={tokens['agent']}\n"
          f"  supervisor wall: {ui}/supervisor.html#token={tokens['supervisor']}\n"
          f"  (tokens are new on every run; the call starts in {lead_in_s:g} s)\n", flush=True)

    def show(event) -> None:
        if event.type == "transcript" and event.final:
            who = "坐席" if event.channel == "agent" else "客户"
            print(f"  [{event.t:6.1f}s] {who}: {event.text}", flush=True)
        elif event.type == "contact_rule":
            print(f"  [{event.t:6.1f}s]   ▶ 拨打规则：{event.title} — {event.detail}", flush=True)
        elif event.type == "hint":
            print(f"  [{event.t:6.1f}s]   ▶ 提示（{event.code}）{event.title} — {event.suggestion}", flush=True)

    # The call opens first (the agent panel shows the brief), then the audio starts after the lead-in.
    streaming = asyncio.create_task(stream_audio(base, call_id, case.case_id, audio, tokens["gateway"], speed,
                                                 agent_id="demo-agent", lead_in_s=lead_in_s))
    follower = asyncio.create_task(follow_call(base, call_id, show, tokens["supervisor"]))
    result = await streaming
    await follower
    print(f"\n  call finished: {result.get('finals')} finals.", flush=True)
    if exit_after:
        server.should_exit = True
    else:
        print("  the pages stay up until Ctrl-C", flush=True)
    await serving


def cmd_demo(args, settings: Settings) -> None:
    _listen_on(args, settings)
    asyncio.run(_demo(settings, Path(args.call or settings.demo_call), args.speed, args.exit, args.lead_in))


# -- replay ----------------------------------------------------------------------------------
async def _replay(args, settings: Settings) -> None:
    from ferryman.cases.schema import load_case_file
    from ferryman.hints import prepare as prepare_hints
    from ferryman.replay import JsonlSink, replay_audio, replay_transcript

    await asyncio.to_thread(prepare_hints)
    case_file = args.case or args.transcript
    if case_file is None:
        raise UsageError("--case is required with AUDIO")
    case = load_case_file(Path(case_file))
    if args.server:
        await _replay_via_server(args, case)
        return
    if args.transcript:
        sink = JsonlSink(args.out)
        try:
            await replay_transcript(Path(args.transcript), case, sink, args.speed)
        finally:
            sink.close()
        return
    from ferryman.asr import build_runtime

    asr = await asyncio.to_thread(build_runtime, settings)
    sink = JsonlSink(args.out)
    try:
        await replay_audio(Path(args.audio), case, sink, asr, args.speed, args.call_id)
    finally:
        sink.close()
        asr.scheduler.shutdown()


async def _replay_via_server(args, case) -> None:
    from ferryman.client import follow_call, put_case, stream_audio, stream_transcript
    from ferryman.replay import JsonlSink

    base = args.server.rstrip("/")
    if not args.token:
        raise UsageError("--server needs --token (a gateway token of that server)")
    call_id = args.call_id or f"{Path(args.audio or args.transcript).stem}-{int(time.time() * 1000)}"
    await put_case(base, case, args.token)
    sink = JsonlSink(args.out)
    try:
        follower = asyncio.create_task(follow_call(base, call_id, sink.publish, args.token))
        if args.transcript:     # the reference turns through the server's transcript socket
            await stream_transcript(base, call_id, case.case_id, Path(args.transcript), args.token, args.speed)
        else:
            await stream_audio(base, call_id, case.case_id, Path(args.audio), args.token, args.speed,
                               reconnect_s=30.0)   # a node that dies mid-call: go on through another
        await follower
    finally:
        sink.close()


def cmd_replay(args, settings: Settings) -> None:
    if bool(args.audio) == bool(args.transcript):
        raise UsageError("give either AUDIO or --transcript CALL.json")
    asyncio.run(_replay(args, settings))


# -- cases / model ---------------------------------------------------------------------------
async def _import_cases(files: list[str], settings: Settings) -> None:
    from ferryman.cases.schema import case_from_json
    from ferryman.cases.store import CaseStore
    from ferryman.infra.redis import open_redis

    cases = []
    for name in files:
        try:
            cases.append(case_from_json(json.loads(Path(name).read_text(encoding="utf-8"))))
        except (OSError, json.JSONDecodeError, ValidationError) as exc:
            raise UsageError(f"{name}: {exc}") from exc
    async with open_redis(settings) as redis:
        store = CaseStore(redis)
        for case in cases:
            await store.put(case)
            print(f"imported case {case.case_id} ({case.customer.name})")


def cmd_cases(args, settings: Settings) -> None:
    asyncio.run(_import_cases(args.files, settings))


def cmd_model(args, settings: Settings) -> None:
    from ferryman.asr.model import check_model_dir, install_model

    target = Path(args.dir) if args.dir else settings.model_dir
    if args.action == "install":
        print(f"speech model ready at {install_model(target)}")
    else:
        check_model_dir(target)
        print(f"speech model at {target} is complete")


def cmd_tokens(args, settings: Settings) -> None:
    """Add a new random token to the tokens file (created if missing); print the token once."""
    import yaml

    from ferryman.settings import AccessGrant
    from ferryman.web.auth import load_tokens_file

    path = Path(args.file or settings.tokens_file or "tokens.yaml")
    grants = load_tokens_file(path) if path.exists() else {}
    try:
        expires = datetime.now(timezone.utc) + timedelta(days=args.days) if args.days else None
        grant = AccessGrant(role=args.role, agent_id=args.agent_id, name=args.name or "", expires=expires)
    except ValidationError as exc:
        raise UsageError(str(exc.errors()[0]["msg"])) from exc
    token = secrets.token_urlsafe(24)
    grants[token] = grant
    data = {"tokens": {t: g.model_dump(mode="json", exclude_none=True) for t, g in grants.items()}}
    # created readable by its owner only (never world-readable, not even for a moment)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
        fh.write(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    path.chmod(0o600)
    print(token)
    print(f"added a {args.role} token to {path} (set FERRYMAN_TOKENS_FILE={path.resolve()})", file=sys.stderr)


# -- hints -----------------------------------------------------------------------------------
def cmd_hints_data(args, settings: Settings) -> None:
    from ferryman.hints.learned.dataset import check, load, test_files, training_files

    given = [Path(f) for f in args.files]
    groups = [given] if given else [training_files(), test_files()]   # the test split is checked on its own
    paths = [p for group in groups for p in group]
    problems = [problem for group in groups for problem in check(group)]
    for problem in problems:
        print(problem)
    if problems:
        raise UsageError(f"{len(problems)} problems in {len(paths)} files")
    items = load(paths)
    print(f"{len(items)} items in {len(paths)} files: all valid")


def cmd_hints_variants(args, settings: Settings) -> None:
    """ASR-damaged copies of the hand-written batches, as one more batch (deterministic)."""
    from ferryman.hints.learned.dataset import DATA_DIR, load, training_files
    from ferryman.hints.learned.noise import variants

    out = Path(args.out) if args.out else DATA_DIR / "utterances" / "asr.jsonl"
    sources = [p for p in training_files() if p.resolve() != out.resolve()]
    copies = variants(load(sources), args.share, args.seed)
    out.write_text("".join(c.model_dump_json(exclude_defaults=True) + "\n" for c in copies), encoding="utf-8")
    print(f"wrote {len(copies)} ASR-damaged copies of {len(sources)} batches to {out}")


def cmd_hints_train(args, settings: Settings) -> None:
    from ferryman.hints.learned.train import train

    started = time.monotonic()
    result = train(Path(args.out)) if args.out else train()
    print(f"\nwrote {result.path} ({result.size_bytes / 1e6:.1f} MB) from {result.items} utterances "
          f"in {time.monotonic() - started:.0f} s")
    for line in result.validation_rules_only.lines("validation, rules alone"):
        print(line)
    for line in result.validation.lines("validation, rules + learned layer (model fitted on train only)"):
        print(line)
    print("kinds on validation: " + ", ".join(f"{kind} {right}/{of}" for kind, (right, of) in
                                               result.kind_accuracy.items()))
    print("calibration on validation (Brier / ECE): " + ", ".join(
        f"{head} {brier:.3f}/{ece:.3f}" for head, (brier, ece) in result.calibration.items()))
    if args.verbose_errors:
        print("\n".join(result.validation.wrong))


def cmd_hints_try(args, settings: Settings) -> None:
    """One sentence through the engine: the codes it raises and what raised each one."""
    from ferryman.cases.schema import load_case_file
    from ferryman.hints.learned.dataset import default_case
    from ferryman.hints.learned.evaluate import CALL_DAY
    from ferryman.hints.learned.trial import try_sentence

    case = load_case_file(Path(args.case)) if args.case else default_case()
    result = try_sentence(args.text, args.speaker, case, prev=args.prev, prev_speaker=args.prev_speaker,
                          rules_only=args.rules_only, today=CALL_DAY)
    for line in result.lines():
        print(line)


def cmd_hints_eval(args, settings: Settings) -> None:
    from ferryman.hints.learned.dataset import load, test_files
    from ferryman.hints.learned.evaluate import evaluate
    from ferryman.hints.learned.model import shared_model

    paths = [Path(f) for f in args.files] or test_files()
    if not paths:
        raise UsageError("no files to evaluate (the frozen test split is hints/data/test/*.jsonl)")
    items = load(paths)
    model = None if args.rules_only else shared_model()
    report = evaluate(items, model)
    for line in report.lines(f"{len(paths)} files, {'rules alone' if args.rules_only else 'rules + learned layer'}"):
        print(line)
    if args.errors:
        print("\n".join(report.wrong))


# -- entry -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferryman", description="Ferryman (摆渡) real-time call copilot")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="serve, and stream a corpus call through the whole pipeline")
    demo.add_argument("--call", help="corpus call .json (default: FERRYMAN_DEMO_CALL, d01)")
    demo.add_argument("--speed", type=float, default=1.0)
    demo.add_argument("--lead-in", type=float, default=8.0,
                      help="seconds between the call opening (brief on the agent panel) and its audio")
    demo.add_argument("--exit", action="store_true", help="stop the server when the call ends")
    demo.add_argument("--host", help="address to listen on (0.0.0.0: every interface, for browsers on other "
                                     "machines); default FERRYMAN_HOST, 127.0.0.1")
    demo.add_argument("--port", type=int, help="port; default FERRYMAN_PORT, 8000")
    demo.set_defaults(func=cmd_demo)

    replay = sub.add_parser("replay", help="run a recorded call through the pipeline -> JSONL events")
    replay.add_argument("audio", nargs="?", help="stereo audio (channel 0 agent, 1 customer)")
    replay.add_argument("--case", help="case JSON (or a corpus call JSON with a 'case')")
    replay.add_argument("--out", required=True, help="events JSONL to write")
    replay.add_argument("--speed", type=float, default=0.0, help="0 = as fast as compute allows")
    replay.add_argument("--server", help="ws://host:port of a running server to stream through")
    replay.add_argument("--token", help="with --server: a gateway token of that server")
    replay.add_argument("--transcript", help="corpus call JSON: feed its reference turns, no ASR")
    replay.add_argument("--call-id")
    replay.set_defaults(func=cmd_replay)

    cases = sub.add_parser("cases", help="manage cases in Redis")
    cases_sub = cases.add_subparsers(dest="action", required=True)
    imp = cases_sub.add_parser("import", help="import case JSON files (or corpus call files)")
    imp.add_argument("files", nargs="+")
    imp.set_defaults(func=cmd_cases)

    tokens = sub.add_parser("tokens", help="access tokens for agents, supervisors and the gateway")
    tokens_sub = tokens.add_subparsers(dest="action", required=True)
    add = tokens_sub.add_parser("add", help="add a new random token to the tokens file and print it")
    add.add_argument("--role", required=True, choices=["agent", "supervisor", "gateway"])
    add.add_argument("--agent-id", help="the agent's id as the gateway sends it (role agent)")
    add.add_argument("--name", help="display name (zh-CN), shown on the supervisor wall")
    add.add_argument("--days", type=float, help="the token expires this many days from now (default: never)")
    add.add_argument("--file", help="tokens YAML (default: FERRYMAN_TOKENS_FILE, else ./tokens.yaml)")
    add.set_defaults(func=cmd_tokens)

    model = sub.add_parser("model", help="the speech model")
    model.add_argument("action", choices=["install", "check"])
    model.add_argument("--dir", help="target directory (default: FERRYMAN_MODEL_DIR)")
    model.set_defaults(func=cmd_model)

    hints = sub.add_parser("hints", help="the hint engine: data, training, trying a sentence")
    hints_sub = hints.add_subparsers(dest="action", required=True)
    data = hints_sub.add_parser("data", help="the labelled utterance set")
    data_sub = data.add_subparsers(dest="what", required=True)
    check = data_sub.add_parser("check", help="validate JSONL files (schema, codes, duplicates)")
    check.add_argument("files", nargs="*", help="JSONL files (default: all of hints/data)")
    check.set_defaults(func=cmd_hints_data)
    noisy = data_sub.add_parser("asr-variants", help="write ASR-damaged copies of the hand-written batches")
    noisy.add_argument("--share", type=float, default=0.3, help="about this share of the items gets a copy")
    noisy.add_argument("--seed", type=int, default=7)
    noisy.add_argument("--out", help="default: hints/data/utterances/asr.jsonl")
    noisy.set_defaults(func=cmd_hints_variants)
    train = hints_sub.add_parser("train", help="train the learned intent layer from hints/data (deterministic)")
    train.add_argument("--out", help="artifact to write (default: hints/model/intents.npz)")
    train.add_argument("--errors", dest="verbose_errors", action="store_true", help="list the validation errors")
    train.set_defaults(func=cmd_hints_train)
    trial = hints_sub.add_parser("try", help="which codes one sentence raises, and why (for tuning rules)")
    trial.add_argument("text", help="what is said, e.g. \"我下个月发了工资就还三千\"")
    trial.add_argument("--speaker", choices=["customer", "agent"], default="customer")
    trial.add_argument("--case", help="case JSON (or a corpus call JSON); default: hints/data/case.json")
    trial.add_argument("--prev", help="the turn just before, e.g. the agent's question")
    trial.add_argument("--prev-speaker", choices=["customer", "agent"], help="default: the other speaker")
    trial.add_argument("--rules-only", action="store_true", help="without the learned layer")
    trial.set_defaults(func=cmd_hints_try)
    evaluate = hints_sub.add_parser("eval", help="score the engine on labelled utterances "
                                                 "(default: the frozen test split)")
    evaluate.add_argument("files", nargs="*")
    evaluate.add_argument("--rules-only", action="store_true", help="without the learned layer")
    evaluate.add_argument("--errors", action="store_true", help="list every wrong item")
    evaluate.set_defaults(func=cmd_hints_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ferryman.asr.model import ModelError
    from ferryman.hints.rules import RulesError
    from ferryman.infra.redis import RedisUnavailable
    from ferryman.ingest.sources import AudioFileError
    from ferryman.web.auth import AccessConfigError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        args.func(args, get_settings())
    except (UsageError, ModelError, RulesError, RedisUnavailable, AudioFileError, ValidationError,
            AccessConfigError) as exc:
        print(f"ferryman: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
