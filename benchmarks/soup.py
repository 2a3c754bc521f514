"""Which checkpoints to average (a greedy "model soup", Wortsman et al. 2022), chosen on
labelled images that are not test data: the real images their runs held out (``data=mix``:
``<folder>_heldout``), or the folders ``--root`` names.

    python benchmarks/soup.py RUN1/checkpoints/epoch8.ckpt RUN2/checkpoints/epoch9.ckpt ... \
        --output soup.ckpt [--root DIR ...] [--criterion cer|words]

The candidates (runs of one network trained from one starting model; with held-out images,
of one held-out split) are scored alone and ranked; then, best first, each is kept if
averaging it in improves the average's score: the CER, or ``words``: greedy word accuracy
on [0-9a-z] (``ocr/metrics.py``), read in float32. Writes the average (float16, as
``python export.py 'ckpt_path=[...]' format=fp16``) and prints each step; figures go to
docs/ with the machine and commit.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocr.checkpoint import average_checkpoints, load_checkpoint, model_from_checkpoint, slim_checkpoint  # noqa: E402
from ocr.data.datamodule import FolderDataModule, datamodule_from_checkpoint  # noqa: E402
from ocr.evaluation import score  # noqa: E402
from ocr.recognizer import Recognizer  # noqa: E402

SPLIT = ("name", "real_roots", "val_fraction", "seed", "gt_file")


def check_candidates(paths: list[Path], held_out: bool) -> None:
    """One alphabet among the candidates and, choosing on held-out images, one held-out split
    (what decides which real images a run held out)."""
    hyper_parameters = {path: load_checkpoint(path)["hyper_parameters"] for path in paths}
    if len({h["alphabet"] for h in hyper_parameters.values()}) > 1:
        raise SystemExit("the candidates have different alphabets: they cannot be averaged")
    if not held_out:
        return
    for path, h in hyper_parameters.items():
        if (h.get("data") or {}).get("name") != "mix":
            raise SystemExit(f"{path} was not trained with data=mix: it held out no real images to choose on")
    splits = {tuple(str(h["data"].get(key)) for key in SPLIT) for h in hyper_parameters.values()}
    if len(splits) > 1:
        raise SystemExit(f"the candidates held out different images ({sorted(splits)})")


def choice_sets(model, roots: list[Path] | None, cache_dir: str):
    """The data module and the sets to choose on: the folders ``roots``, or else the real
    images the model's run held out (no test folder). Built once for all candidates."""
    if roots:
        datamodule = FolderDataModule(model.codec.alphabet, test_root=[str(r) for r in roots], imgH=model.hparams.imgH)
        datamodule.setup("test")
        return datamodule, datamodule.test_sets
    overrides = {"alphabet": model.codec.alphabet, "imgH": model.hparams.imgH, "cache_dir": cache_dir}
    datamodule = datamodule_from_checkpoint(model.hparams.data, {**overrides, "test_root": None, "num_workers": 0})
    datamodule.prepare_data(splits=("test",))
    datamodule.setup("test")
    return datamodule, {name: data for name, data in datamodule.test_sets.items() if name.endswith("_heldout")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", type=Path, nargs="+", help="the candidates")
    parser.add_argument("--output", type=Path, required=True, help="the averaged checkpoint to write (float16)")
    parser.add_argument("--root", type=Path, nargs="*", help="labelled folders to choose on (default: held out)")
    parser.add_argument("--criterion", choices=("cer", "words"), default="cer")
    parser.add_argument("--cache-dir", default="data/cache", help="where the runs' rendered test sets are kept")
    args = parser.parse_args()

    check_candidates(args.checkpoints, held_out=not args.root)
    datamodule, sets = choice_sets(model_from_checkpoint(args.checkpoints[0]), args.root, args.cache_dir)

    def scores(path: Path) -> dict[str, float]:
        """Pooled metrics of the checkpoint on the sets, read upright as in training and in
        float32, as a CPU reads the shipped models' ONNX exports (bf16 autocast, where the CPU
        has it, moved the shipped english's words on the real training sets by 6 crops of
        6,725, as much as a step: docs/experiments.md)."""
        reader = Recognizer.from_model(model_from_checkpoint(path), "cpu", "32", vertical=None)
        return score(reader, sets, lambda d: datamodule.loader(d, train=False, sharded=False), progress=False).summary

    def loss(result: dict[str, float]) -> float:
        return result["cer"] if args.criterion == "cer" else -result["word_accuracy_alnum"]

    def say(what: str, path: Path, result: dict, before: dict | None = None) -> None:
        was = f" (before {before['cer']:.2%}, {before['word_accuracy_alnum']:.2%})" if before else ""
        print(f"{what} {path}: CER {result['cer']:.2%}, words (36 chars) {result['word_accuracy_alnum']:.2%}{was}")

    alone = {path: scores(path) for path in args.checkpoints}
    ranked = sorted(args.checkpoints, key=lambda path: loss(alone[path]))
    for path in ranked:
        say("alone", path, alone[path])
    kept, best = [ranked[0]], alone[ranked[0]]
    with tempfile.TemporaryDirectory() as folder:
        trial = Path(folder) / "trial.ckpt"
        for path in ranked[1:]:
            result = scores(average_checkpoints([*kept, path], trial))
            better = loss(result) < loss(best)
            say("kept" if better else "left", path, result, best)
            if better:
                kept, best = [*kept, path], result
        slim_checkpoint(average_checkpoints(kept, trial) if len(kept) > 1 else kept[0], args.output)
    print(f"average of {len(kept)}: CER {best['cer']:.2%}, words (36 chars) {best['word_accuracy_alnum']:.2%}")
    print(f"wrote {args.output}: " + " ".join(map(str, kept)))


if __name__ == "__main__":
    main()
