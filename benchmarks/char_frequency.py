"""How well a model reads each character, by how often its training images showed it:
for large alphabets (Chinese), whether more images of the rare characters would help.

    python evaluate.py ckpt_path=RUN/checkpoints/best.ckpt hydra.run.dir=EVAL
    python benchmarks/char_frequency.py EVAL/predictions.tsv TRAINING_LABELS ...

TRAINING_LABELS: the run's rendered store (``data/cache/synth-train-<key>``, named in its
train.log; it holds the validation images too) or label files (``gt.txt``). Each
character of each truth counts as read where the alignment of truth and reading (Python's
difflib) matches it. Prints one row per range of training occurrences.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocr.data.labels import read_gt_file  # noqa: E402
from ocr.data.store import ImageStore  # noqa: E402

BINS = (0, 1, 10, 30, 100, 300, 1000)


def training_labels(source: Path) -> list[str]:
    if source.is_dir() and not (source / "gt.txt").is_file():
        return ImageStore(source).labels
    root, name = (source, "gt.txt") if source.is_dir() else (source.parent, source.name)
    return [label for _, label, _ in read_gt_file(root, name)]


def read_characters(truth: str, reading: str) -> list[bool]:
    """For each character of ``truth``, whether the reading has it in place."""
    read = [False] * len(truth)
    for block in difflib.SequenceMatcher(None, truth, reading, autojunk=False).get_matching_blocks():
        read[block.a : block.a + block.size] = [True] * block.size
    return read


def by_frequency(rows: list[tuple[str, str]], seen: Counter) -> list[dict]:
    """Characters of the truths, read or not, grouped by their count in ``seen``."""
    spans = [str(low) if high == 1 else f"{low}-{high - 1}" for low, high in zip(BINS, BINS[1:])] + [f"{BINS[-1]}+"]
    groups = [
        {"from": low, "span": span, "characters": 0, "read": 0, "distinct": set()} for low, span in zip(BINS, spans)
    ]
    for truth, reading in rows:
        for character, read in zip(truth, read_characters(truth, reading)):
            group = next(g for g in reversed(groups) if seen[character] >= g["from"])
            group["characters"] += 1
            group["read"] += read
            group["distinct"].add(character)
    return [{**g, "distinct": len(g["distinct"])} for g in groups if g["characters"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("predictions", type=Path, help="predictions.tsv written by evaluate.py")
    parser.add_argument("training", type=Path, nargs="+", help="image stores or label files")
    args = parser.parse_args()
    seen = Counter(character for source in args.training for label in training_labels(source) for character in label)
    with open(args.predictions, newline="", encoding="utf-8") as file:
        rows = [(row["truth"], row["prediction"]) for row in csv.DictReader(file, delimiter="\t")]
    print(f"{sum(seen.values())} training characters, {len(seen)} distinct; {len(rows)} readings")
    print(f"{'seen in training':>18} {'characters':>10} {'distinct':>8} {'read':>8}")
    for g in by_frequency(rows, seen):
        print(f"{g['span']:>18} {g['characters']:>10} {g['distinct']:>8} {g['read'] / g['characters']:>8.2%}")


if __name__ == "__main__":
    main()
