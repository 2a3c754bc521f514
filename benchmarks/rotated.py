"""Reading words turned a quarter (``vertical``): a labelled folder read upright and as
copies turned clockwise and anticlockwise, with the turned reading off and on.

    python benchmarks/rotated.py --root path/to/words [--model english] [--vertical 1.0]
        [--vertical-words english]

Prints, for each copy, exact and 36-character word accuracy (see ocr/metrics.py) with
``vertical=null``, with ``--vertical`` alone and with ``--vertical-words`` too; greedy
decoding. Figures go to
docs/results.md with the machine and commit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from ocr.data.images import open_image, to_gray  # noqa: E402
from ocr.data.labels import read_gt_file  # noqa: E402
from ocr.metrics import alnum  # noqa: E402
from ocr.recognizer import Recognizer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="a folder with gt.txt (<image><TAB><label>)")
    parser.add_argument("--model", default="english", help="a checkpoint or a shipped model's name")
    parser.add_argument("--vertical", type=float, default=1.0, help="the ratio of height to width turned on")
    parser.add_argument("--vertical-words", default="english", help="the word list of turned readings' shape")
    args = parser.parse_args()

    entries = read_gt_file(args.root)
    upright = [to_gray(open_image(args.root / path)) for path, _, _ in entries]
    labels = [label for _, label, _ in entries]
    copies = {
        "upright": upright,
        "clockwise": [np.ascontiguousarray(np.rot90(image, -1)) for image in upright],
        "anticlockwise": [np.ascontiguousarray(np.rot90(image, 1)) for image in upright],
    }
    print(f"{args.root}: {len(labels)} images, model {args.model}, greedy")
    print(f"{'copy':<14} {'vertical':>8} {'words':>8} {'exact':>7} {'36-char':>8} {'seconds':>8}")
    settings = ((None, None), (args.vertical, None), (args.vertical, args.vertical_words))
    readers = {s: Recognizer.load(args.model, vertical=s[0], vertical_words=s[1]) for s in settings}
    for copy, images in copies.items():
        for (vertical, words), recognizer in readers.items():
            start = time.perf_counter()
            texts = [r.text for r in recognizer.read(images)]
            seconds = time.perf_counter() - start
            exact = np.mean([t == label for t, label in zip(texts, labels)]) * 100
            folded = np.mean([alnum(t) == alnum(label) for t, label in zip(texts, labels)]) * 100
            print(f"{copy:<14} {str(vertical):>8} {str(words):>8} {exact:7.2f} {folded:8.2f} {seconds:8.1f}")


if __name__ == "__main__":
    main()
