#!/usr/bin/env bash
# Builds .gpu/ (git-ignored): what benchmarks/gpu_session.sh needs on a GPU machine without
# network access that has Python 3.12, torch, lightning, torchvision, pillow, numpy and
# opencv (see docs/gpu.md). It stays small enough to copy (under 64 MiB):
#   .gpu/whl   wheels for hydra-core, omegaconf, antlr4 (built here), rapidfuzz (cp312) and
#              the font_* packages of experiment=english (~8 MB)
#   .gpu/site  trdg without its other scripts' fonts (code, fonts/latin, dicts/en.txt, images)
#   .gpu/fonts the fonts experiment=english takes from other packages, a folder each
#   .gpu/real  copies of the real word sets
#   .gpu/photos the Debian wallpapers of experiment=english_photo (`make photos` first; 15 MB)
# Usage: benchmarks/gpu_bundle.sh REAL_DATA_DIR   (run from the repository root, in .venv)
# Then, on the GPU machine, in a copy of the repository with .gpu beside it:
#   mkdir -p /tmp/bin && printf '#!/bin/sh\nexec python3 "$@"\n' > /tmp/bin/python && chmod +x /tmp/bin/python
#   export PATH=/tmp/bin:$PATH
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl
#   export PYTHONPATH=/tmp/site:$PWD/.gpu/site:$PWD
#   bash benchmarks/gpu_session.sh $OUT $PWD/.gpu/real 330 540
set -eu
REAL=$1
PY=${PYTHON:-.venv/bin/python}
rm -rf .gpu && mkdir -p .gpu/whl .gpu/site .gpu/fonts .gpu/real
cp -r data/photos/debian .gpu/photos
version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }

"$PY" -m pip download -q --no-deps -d .gpu/whl "hydra-core==$(version hydra-core)" "omegaconf==$(version omegaconf)"
"$PY" -m pip wheel -q --no-deps -w .gpu/whl "antlr4-python3-runtime==$(version antlr4-python3-runtime)"
"$PY" -m pip download -q --no-deps --only-binary=:all: --implementation cp --python-version 3.12 \
    --platform manylinux_2_28_x86_64 -d .gpu/whl rapidfuzz
# The small font_* packages experiment=english names (install_requires of ocr), as wheels.
for package in $("$PY" -c "from omegaconf import OmegaConf; print(*[f for f in OmegaConf.load('conf/experiment/english.yaml').data.fonts if f.startswith('font_')])"); do
    "$PY" -m pip download -q --no-deps -d .gpu/whl "${package//_/-}==$(version "${package//_/-}")"
done
# The other packages it takes fonts from (reportlab, matplotlib, rendercv_fonts: 45 MB,
# or built for another Python): a folder of the same name in .gpu/fonts holding only their
# faithful fonts, cut down to printable ASCII by fontTools' subsetter (same outlines;
# the CID-keyed Noto CJK faces render within a few grey levels of the originals).
"$PY" - <<'EOF'
import shutil
from pathlib import Path

from fontTools import subset
from omegaconf import OmegaConf

from ocr.data.fonts import font_folder, resolve_fonts

cfg = OmegaConf.load("conf/experiment/english.yaml")
alphabet = OmegaConf.load("conf/charset/printable.yaml").alphabet
for name in cfg.data.fonts:
    if name == "trdg" or name.startswith("font_"):
        continue
    root, out = font_folder(name), Path(".gpu/fonts") / name
    for path in map(Path, resolve_fonts([name], alphabet)):
        target = out / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".pfb":  # Type 1: small already
            shutil.copy(path, target)
        else:
            subset.main([str(path), "--unicodes=U+0020-007E", "--notdef-outline", "--layout-features=*", f"--output-file={target}"])
EOF

TRDG=$("$PY" -c "import trdg, os; print(os.path.dirname(trdg.__file__))")
mkdir -p .gpu/site/trdg/fonts .gpu/site/trdg/dicts
(cd "$TRDG" && find . -name '*.py' -not -path './fonts/*' -exec cp --parents {} "$OLDPWD/.gpu/site/trdg" \;)
cp -r "$TRDG/fonts/latin" .gpu/site/trdg/fonts/
cp "$TRDG/dicts/en.txt" .gpu/site/trdg/dicts/
cp -r "$TRDG/images" .gpu/site/trdg/

for set in svt_test iiit5k_train svt_train; do cp -r "$REAL/$set" .gpu/real/; done
du -sh .gpu/*
