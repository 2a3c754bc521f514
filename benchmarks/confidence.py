"""What a reading's confidence says: of the words read at or above a confidence, how many
there are and how many are right, and how many of the rest. To choose a threshold below
which readings go to a person (or to ``views=doubtful``'s second reading).

    python evaluate.py [ckpt_path=MODEL] data=folder 'data.root=[...]' hydra.run.dir=EVAL
    python benchmarks/confidence.py EVAL [--exact] [--thresholds 0.9 0.95 0.99]

EVAL: an ``evaluate.py`` run folder (or its ``predictions.tsv``), scored as ``evaluate.py``
scores it (the 36-character protocol; ``--exact``: texts as they are). The greedy
confidence is the geometric mean of each frame's best probability: it ranks readings well,
but is no probability of being right (docs/reading.md#confidence).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from compare import scored  # (it puts the repository on the path)

from ocr.report import aligned

THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995)


def coverage(readings: list[tuple[bool, float]], thresholds) -> list[tuple[float, int, int, int, int]]:
    """For each threshold: words at or above it, how many of them right, words below, how many right."""
    rows = []
    for t in thresholds:
        above = [right for right, confidence in readings if confidence >= t]
        below = [right for right, confidence in readings if confidence < t]
        rows.append((t, len(above), sum(above), len(below), sum(below)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("evaluation", type=Path)
    parser.add_argument(
        "--exact", action="store_true", help="compare texts as they are, not under the 36-char protocol"
    )
    parser.add_argument("--thresholds", type=float, nargs="+", default=THRESHOLDS)
    args = parser.parse_args()
    readings = list(scored(args.evaluation, args.exact).values())
    right = sum(r for r, _ in readings)
    print(f"{args.evaluation}: {len(readings)} words, {right / len(readings):.2%} read right")
    table = [("confidence >=", "words", "share", "right", "words below", "right below")]
    for t, n_above, r_above, n_below, r_below in coverage(readings, args.thresholds):
        share = f"{n_above / len(readings):.1%}"
        table.append((f"{t:g}", str(n_above), share, _rate(r_above, n_above), str(n_below), _rate(r_below, n_below)))
    print("\n".join(aligned(table)))


def _rate(right: int, count: int) -> str:
    return f"{right / count:.2%}" if count else "-"


if __name__ == "__main__":
    main()
