"""Two evaluations of the same images, crop by crop: which words one reads right and the
other wrong, and how often chance alone would split them so unevenly.

    python evaluate.py ckpt_path=A.ckpt data=folder 'data.root=[...]' hydra.run.dir=EVAL_A
    python evaluate.py ckpt_path=B.ckpt data=folder 'data.root=[...]' hydra.run.dir=EVAL_B
    python benchmarks/compare.py EVAL_A EVAL_B [--exact]

EVAL_A, EVAL_B: ``evaluate.py``'s run folders (or their ``predictions.tsv``). Per set and
in total: each one's word accuracy (the 36-character protocol; ``--exact``: texts as they
are), the words only A reads right, only B, and the exact two-sided sign test (McNemar's
test) on those: the chance of a split at least as uneven if neither read better. Two
readers a few words apart on a few thousand crops are usually within chance (p > 0.05).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocr.metrics import alnum  # noqa: E402
from ocr.report import aligned  # noqa: E402
from ocr.text import nfc  # noqa: E402


def scored(path: Path, exact: bool) -> dict[tuple[str, str], tuple[bool, float]]:
    """For each (set, file) of an evaluation, whether its word was read right, as
    ``evaluate.py`` scores it (texts in composed form; under the 36-character protocol, a
    label without a letter or digit is left out), and the reading's confidence."""
    path = path / "predictions.tsv" if path.is_dir() else path
    if not path.is_file():
        raise SystemExit(f"{path}: no predictions.tsv (an evaluate.py run folder, or the file itself)")
    norm = nfc if exact else (lambda text: alnum(nfc(text)))
    with open(path, newline="", encoding="utf-8") as f:
        rows = [
            (row["set"], row["file"], norm(row["truth"]), norm(row["prediction"]), float(row["confidence"]))
            for row in csv.DictReader(f, delimiter="\t")
        ]
    return {(name, file): (truth == reading, confidence) for name, file, truth, reading, confidence in rows if truth}


def sign_test(only_a: int, only_b: int) -> float:
    """Two-sided exact binomial test of ``only_a`` against ``only_b`` at even odds."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def compare(a: dict[tuple[str, str], bool], b: dict[tuple[str, str], bool]) -> list[tuple]:
    """One row per set and one for all: set, n, A right, B right, only A, only B, p."""
    if a.keys() != b.keys():
        missing = sorted(a.keys() ^ b.keys())
        raise SystemExit(f"the two evaluations read different images ({len(missing)} in one only, e.g. {missing[0]})")
    sets = sorted({s for s, _ in a})
    rows = []
    for name in [*sets, "total"]:
        keys = [k for k in a if name in ("total", k[0])]
        only_a = sum(a[k] and not b[k] for k in keys)
        only_b = sum(b[k] and not a[k] for k in keys)
        rows.append((name, len(keys), sum(a[k] for k in keys), sum(b[k] for k in keys), only_a, only_b))
    return [(*row, sign_test(row[4], row[5])) for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument(
        "--exact", action="store_true", help="compare texts as they are, not under the 36-char protocol"
    )
    args = parser.parse_args()
    a, b = ({key: right for key, (right, _) in scored(path, args.exact).items()} for path in (args.a, args.b))
    rows = compare(a, b)
    table = [("set", "n", "A", "B", "only A", "only B", "p (sign test)")]
    table += [
        (s, str(n), f"{ra / n:.2%}", f"{rb / n:.2%}", str(oa), str(ob), f"{p:.3g}") for s, n, ra, rb, oa, ob, p in rows
    ]
    print(f"A: {args.a}\nB: {args.b}")
    print("\n".join(aligned(table)))


if __name__ == "__main__":
    main()
