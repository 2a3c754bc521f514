#!/usr/bin/env bash
# Builds .gpu/ (git-ignored): what benchmarks/gpu_session.sh needs on a GPU machine without
# network access that has Python 3.12, torch, lightning, torchvision, pillow, numpy and
# opencv (see docs/gpu.md). It stays small enough to copy (under 64 MiB):
#   .gpu/whl   wheels for hydra-core, omegaconf, symspellpy, antlr4 (built here), rapidfuzz, uharfbuzz (cp312) and
#              the font_* packages of experiment=english (~8 MB)
#   .gpu/site  trdg without its fonts (code, dicts/en.txt, images; ~6 MB)
#   .gpu/fonts.tar.xz  every other font experiment=english_fonts draws (`make english-fonts`
#              and the apt fonts of its header first), trdg's among them (~15 MB)
#   .gpu/real.tar.gz  the real word sets at the model's input size (benchmarks/pack_sets.py; 11 MB; 55 MiB in all)
#   .gpu/photos the Debian wallpapers of experiment=english_photo (`make photos` first; 15 MB)
# Usage: benchmarks/gpu_bundle.sh REAL_DATA_DIR   (run from the repository root, in .venv)
# Then, on the GPU machine, in a copy of the repository with .gpu beside it:
#   mkdir -p /tmp/bin && printf '#!/bin/sh\nexec python3 "$@"\n' > /tmp/bin/python && chmod +x /tmp/bin/python
#   export PATH=/tmp/bin:$PATH
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl
#   export PYTHONPATH=/tmp/site:$PWD/.gpu/site:$PWD
#   bash benchmarks/gpu_session.sh $OUT $PWD/.gpu/real 300 540   (it unpacks the fonts)
set -eu
REAL=$1
PY=${PYTHON:-.venv/bin/python}
rm -rf .gpu && mkdir -p .gpu/whl .gpu/site
cp -r data/photos/debian .gpu/photos
version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }

# symspellpy for its English word frequencies (experiment=english_fonts draws its words by them).
"$PY" -m pip download -q --no-deps -d .gpu/whl "hydra-core==$(version hydra-core)" "omegaconf==$(version omegaconf)" \
    "symspellpy==$(version symspellpy)"
"$PY" -m pip wheel -q --no-deps -w .gpu/whl "antlr4-python3-runtime==$(version antlr4-python3-runtime)"
"$PY" -m pip download -q --no-deps --only-binary=:all: --implementation cp --python-version 3.12 \
    --platform manylinux_2_28_x86_64 -d .gpu/whl rapidfuzz "uharfbuzz==$(version uharfbuzz)"
# The small font_* packages experiment=english names (install_requires of ocr), as wheels.
for package in $("$PY" -c "from omegaconf import OmegaConf; print(*[f for f in OmegaConf.load('conf/experiment/english.yaml').data.fonts if f.startswith('font_')])"); do
    "$PY" -m pip download -q --no-deps -d .gpu/whl "${package//_/-}==$(version "${package//_/-}")"
done
# Every other font experiment=english_fonts draws (reportlab, matplotlib, rendercv_fonts,
# Debian's font packages, the fetched Google Fonts families: `make english-fonts`, and
# trdg's own), cut down to printable ASCII by fontTools' subsetter (same outlines; the
# CID-keyed Noto CJK faces render within a few grey levels of the originals) and packed
# with xz (about 15 MB of 51): gpu_session.sh unpacks them into .gpu/fonts and trdg's font folder.
TRDG=$("$PY" -c "import trdg, os; print(os.path.dirname(trdg.__file__))")
mkdir -p .gpu/site/trdg/dicts /tmp/gpu-fonts
(cd "$TRDG" && find . -name '*.py' -not -path './fonts/*' -exec cp --parents {} "$OLDPWD/.gpu/site/trdg" \;)
cp "$TRDG/dicts/en.txt" .gpu/site/trdg/dicts/
cp -r "$TRDG/images" .gpu/site/trdg/
rm -rf /tmp/gpu-fonts/*
"$PY" benchmarks/gpu_fonts.py pack /tmp/gpu-fonts/fonts experiment=english_fonts --trdg /tmp/gpu-fonts/site/trdg/fonts/latin
tar cJf .gpu/fonts.tar.xz -C /tmp/gpu-fonts fonts site

# The real sets to score on there, as the model reads them (grey PNGs of 32 rows: 11 MB
# for the four, where their JPEGs take 54 MB), in one file: gpu_session.sh unpacks it into .gpu/real.
rm -rf /tmp/gpu-real
"$PY" benchmarks/pack_sets.py /tmp/gpu-real "$REAL"/{svt_test,iiit5k_train,svt_train,ic15_train}
tar czf .gpu/real.tar.gz -C /tmp/gpu-real .
du -sh .gpu/*
