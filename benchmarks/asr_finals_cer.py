#!/usr/bin/env python3
"""Finals-only CER of the streaming segmentation, for tuning (prints one line; ~90 s).

The same StreamingVad + Segmenter + WhisperDecoder + PromptContext as the live path, but
only the finals are decoded (no partials, no speculative decodes) in end-time order across
both channels, as fast as possible: the quick way to compare VAD thresholds, window margins,
split lengths and prompts before confirming with ``asr_streaming.py``.

    FERRYMAN_VAD_ONSET=0.5 FERRYMAN_VAD_OFFSET=0.3 .venv/bin/python benchmarks/asr_finals_cer.py
    .venv/bin/python benchmarks/asr_finals_cer.py --prompt none     # no biasing at all
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "calls"
SCORER = ROOT.parent / "shared" / "tools" / "score_calls.py"


def final_snapshots(audio_by_channel: dict, settings) -> list[tuple[str, object]]:
    from ferryman.asr.segmenter import EndpointConfig, Segmenter
    from ferryman.asr.vad import StreamingVad

    snaps = []
    for channel, audio in audio_by_channel.items():
        vad, segmenter = StreamingVad(), Segmenter(EndpointConfig.from_settings(settings))
        for i in range(0, len(audio), 1600):
            snaps += [(channel, s) for s in segmenter.push(*vad(audio[i:i + 1600])) if s.kind == "final"]
        snaps += [(channel, s) for s in segmenter.flush()]
    return sorted(snaps, key=lambda item: item[1].end)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompt", choices=["case", "none"], default="case",
                        help="case = domain + case bias and recent finals (the product); none = no prompt")
    args = parser.parse_args()

    from ferryman.asr.bias import PromptContext, bias_prompt
    from ferryman.asr.decoder import WhisperDecoder
    from ferryman.cases.schema import load_case_file
    from ferryman.ingest.sources import read_stereo
    from ferryman.settings import Settings

    settings = Settings()
    decoder = WhisperDecoder(settings)
    with tempfile.TemporaryDirectory() as out:
        for meta in sorted(CORPUS.glob("*.json")):
            agent, customer = read_stereo(meta.with_suffix(".flac"))
            case = load_case_file(meta)
            context = PromptContext(bias_prompt(case) if args.prompt == "case" else "",
                                    settings.asr_context_chars if args.prompt == "case" else 0)
            with open(Path(out) / f"{meta.stem}.jsonl", "w", encoding="utf-8") as fh:
                for channel, snap in final_snapshots({"agent": agent, "customer": customer}, settings):
                    hyp = decoder.decode(snap.audio, context.prompt(), settings.asr_final_beam)
                    context.add_final(hyp.text)
                    fh.write(json.dumps({"type": "transcript", "channel": channel, "final": True, "start": snap.start,
                                         "end": snap.end, "text": hyp.text, "t": snap.end}, ensure_ascii=False) + "\n")
        scored = json.loads(subprocess.run([sys.executable, str(SCORER), "score", str(CORPUS), out],
                                           check=True, capture_output=True, text=True).stdout)
    knobs = {k: getattr(settings, k) for k in ("vad_onset", "vad_offset", "long_utterance_s",
                                               "asr_window_margin_s", "asr_context_chars", "asr_final_beam")}
    print(json.dumps({"cer": scored["cer"], "prompt": args.prompt, **knobs}))


if __name__ == "__main__":
    main()
