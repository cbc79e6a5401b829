#!/usr/bin/env python3
"""Feature ablations of the learned intent layer (prints numbers; minutes).

For each variant of ``hints/data/training.yaml`` given as JSON (default: the shipped settings),
the nine heads are cross-validated inside the train split exactly as ``ferryman hints train``
does; printed per variant: the mean cross-validated F1 of the codes (at the chosen thresholds)
and the mean average precision of the heads (threshold-free, steadier).

    .venv/bin/python benchmarks/hint_ablation.py
    .venv/bin/python benchmarks/hint_ablation.py '[{"embedding_weight": 0.0},
        {"namespace_weights": {"c:": 1.0, "p:": 0.6, "w:": 0.8, "x:": 0.5, "r:": 0.0}}]'
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from sklearn.metrics import average_precision_score
from threadpoolctl import threadpool_limits

from ferryman.hints.learned import train as T
from ferryman.hints.learned.dataset import load, split, training_files
from ferryman.hints.learned.model import HEADS


def main() -> None:
    variants = json.loads(sys.argv[1]) if len(sys.argv) > 1 else [{}]
    config = T.load_config()
    parts = split(load(training_files()), config.validation_share)
    with threadpool_limits(limits=1):
        data = T.featurise(parts.train + parts.validation)
        rows = list(range(len(parts.train)))
        for variant in variants:
            cfg = config.model_copy(update=variant)
            started = time.monotonic()
            vectorizer = T.build_vectorizer([data.terms[r] for r in rows], cfg)
            f1s, aps = {}, {}
            for speaker, heads in HEADS.items():
                for head in heads:
                    C, _, info = T._select(head, speaker, data, rows, vectorizer, cfg)
                    oof = T._out_of_fold(head, speaker, data, rows, vectorizer, cfg, C)
                    keep, y = T._rows_for(head, speaker, data, rows)
                    f1s[head], aps[head] = info["f1"], average_precision_score(y, [oof[r] for r in keep])
            print(f"{json.dumps(variant, ensure_ascii=False)}  F1 {np.mean(list(f1s.values())):.4f}  "
                  f"AP {np.mean(list(aps.values())):.4f}  ({time.monotonic() - started:.0f} s)  "
                  + " ".join(f"{h}={aps[h]:.3f}" for h in aps), flush=True)


if __name__ == "__main__":
    main()
