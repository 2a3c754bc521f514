#!/usr/bin/env bash
# Every GPU figure of this project in one run of about nine minutes (docs/gpu.md), the
# real-photo work first:
#   1. the shipped English model's look (experiment=english_fonts: 1,464 fonts, the Debian
#      wallpapers of .gpu/photos: a model that may be shared) with the full CRNN (and the
#      recipe's headNorm), its training words rendered afresh every epoch by the loader's
#      workers while it trains (data.stream, data.fresh: no image drawn twice), for ENGLISH_S seconds; its
#      images/s is the rate of fresh data the trainer kept (train/images_per_sec); scored
#      on the real word sets and exported as float16 (split in two parts: one file may
#      carry 16 MiB at most);
#   2. the same training from a cached store of that look (the trainer's images/s without
#      the renderer, beside the fresh rate), and the generator alone: benchmarks/render.py,
#      the same look on every core;
#   3. benchmarks/throughput.py with the GPU variants (rendering, loading a store,
#      training, inference);
#   4. time to accuracy: `train.py experiment=seed trainer.gpus=1`, cold cache, wall clock,
#      then benchmarks/profile_steps.py, as long as the budget lasts.
# A process that only imports torch and starts CUDA comes first: a fresh machine's first
# import reads gigabytes of libraries from disk, which no later run pays.
# Usage: benchmarks/gpu_session.sh OUT_DIR REAL_DATA_DIR [ENGLISH_S] [BUDGET_S]  (ENGLISH_S 0: no 1)
# Each stage gets what is left of BUDGET_S (default 540) at most, so the whole stays
# inside a 600 s limit. The English stage trains for ENGLISH_S seconds (trainer.max_time,
# which its cosine schedule follows), epochs of 1,000,000 fresh images, however fast
# the machine renders and trains. GPUS=0 QUICK=1 run every stage small on a CPU (a check of the script).
# Results are appended to OUT_DIR/summary.txt after each stage (a tar rewritten at the
# moment of a kill came back unreadable once), in 8 files at most: summary.txt, logs.txt,
# throughput.json, profile.txt, seed_metrics.csv, english_metrics.csv and the two parts
# english.fp16.ckpt.part-*.
set -u
OUT=$1 REAL=$2 ENGLISH_S=${3:-300} BUDGET=${4:-540} GPUS=${GPUS:-1} QUICK=${QUICK:-0}
RES=/tmp/gpu-results RUNS=/tmp/gpu-runs
rm -rf "$RES" "$RUNS"  # a rerun on the same machine must not read the last run's checkpoints
mkdir -p "$OUT" "$RES" "$RUNS"
export PYTHONUNBUFFERED=1
START=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
stage() {  # stage NAME SECONDS COMMAND...: run with min(SECONDS, budget left), log, time
    local name=$1 limit=$2; shift 2
    local rest; rest=$(left)
    (( rest < limit )) && limit=$rest
    if (( limit < 20 )); then echo "$name skipped: budget spent" | tee -a "$OUT/summary.txt"; return; fi
    local t0; t0=$(date +%s%N)
    echo "$name starts at $(date +%T.%3N)" >> "$OUT/summary.txt"
    timeout -k 5 "$limit" "$@" > "$RES/$name.log" 2>&1
    local rc=$?
    printf '%-10s rc=%-3s wall=%6.1fs limit=%ss\n' "$name" "$rc" "$(( ($(date +%s%N) - t0) / 1000000 ))e-3" "$limit" \
        | tee -a "$OUT/summary.txt"
    { echo "===== $name (last 3000 characters)"; tail -c 3000 "$RES/$name.log" | tr '\r' '\n' | grep -v '^\s*$' | tail -n 40; } >> "$OUT/logs.txt"
}
keep() {  # keep FILE: append it to the summary
    { echo "----- $1"; cat "$1" 2>/dev/null || echo "missing"; } >> "$OUT/summary.txt"
}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  python -c "import torch, pytorch_lightning as pl; print('torch', torch.__version__, 'lightning', pl.__version__)"; } >> "$OUT/summary.txt" 2>&1
# The fonts gpu_bundle.sh packed, trdg's among them (experiment=seed draws one of trdg's),
# and the real word sets.
[ -f .gpu/fonts.tar.xz ] && tar xJf .gpu/fonts.tar.xz -C .gpu
[ -f .gpu/real.tar.gz ] && mkdir -p .gpu/real && tar xzf .gpu/real.tar.gz -C .gpu/real
ON_GPU=()
(( GPUS == 0 )) && ON_GPU=(trainer.gpus=0)  # GPUS=0: the GPU recipe on the CPU

stage warm 60 python -c "import torch, torchvision, pytorch_lightning, hydra; torch.zeros(1, device='cuda' if $GPUS else 'cpu'); print(torch.__version__)"

if (( ENGLISH_S > 0 )); then
    # Batch 512 (lr 4e-3 = 1e-3 x sqrt(512/32)): twice the updates of the preset's 1,024 in
    # the same time. The recipe's headNorm takes the English look off CTC's plateau within a
    # few hundred updates (docs/experiments.md, "Leaving CTC's plateau"). Epochs of fresh
    # words until ENGLISH_S seconds have passed, the learning rate annealed by the clock.
    count=1000000 workers=$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))
    tests=1000 batch=512
    (( QUICK )) && count=500 tests=100 batch=32
    echo "english: epochs of $count fresh images for ${ENGLISH_S}s, $workers render workers" | tee -a "$OUT/summary.txt"
    # The recipe's fonts, those the GPU machine lacks read from the bundle's folders.
    fonts=$(python benchmarks/gpu_fonts.py list .gpu/fonts experiment=english_fonts)
    photos=$PWD/.gpu/photos
    [ -d "$photos" ] || photos=$PWD/data/photos/debian
    # The recipe both English stages train with (fresh renders here, a cached store below).
    recipe=(experiment=english_fonts "data.style.photos=[$photos]" "$fonts" trainer=gpu "${ON_GPU[@]}"
        data.num_workers=$workers data.test_count=$tests data.val_fraction=0.01 data.batch_size=$batch model.lr=4e-3
        callbacks.progress_bar.refresh_rate=200)
    limit=$(printf '00:00:%02d:%02d' $(( ENGLISH_S / 60 )) $(( ENGLISH_S % 60 )))
    stage english $(( ENGLISH_S + 90 )) python train.py "${recipe[@]}" data.count=$count \
        trainer.max_epochs=-1 trainer.max_time=$limit paths.cache_dir=/tmp/cache-eng hydra.run.dir=$RUNS/english
    keep $RUNS/english/test_metrics.json
    cp $RUNS/english/csv/metrics.csv "$OUT/english_metrics.csv" 2>/dev/null
    # The fresh images the trainer took per second, and validation, by epoch.
    python -c "import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for key in ('train/images_per_sec', 'val/char_accuracy', 'val/word_accuracy'):
    print(key, [round(float(r[key]), 4) for r in rows if r.get(key)][-12:])" "$OUT/english_metrics.csv" >> "$OUT/summary.txt" 2>&1
    sets=$(for s in svt_test iiit5k_train svt_train ic15_train; do [ -d "$REAL/$s" ] && printf '%s,' "$REAL/$s"; done)
    stage eval 45 python evaluate.py ckpt_path=$RUNS/english/checkpoints/best.ckpt data=folder \
        "data.root=[${sets%,}]" hydra.run.dir=$RUNS/english_eval
    keep $RUNS/english_eval/metrics.json

    # The synthetic-only model is the one that could be shipped (ocr/weights/README.md).
    python export.py ckpt_path=$RUNS/english/checkpoints/best.ckpt format=fp16 output=$RES/english.fp16.ckpt >> "$OUT/summary.txt" 2>&1 \
        && split -b 12M "$RES/english.fp16.ckpt" "$OUT/english.fp16.ckpt.part-"
    keep $RUNS/english/.hydra/config.yaml

    # The same training from a cached store of the same look (rendered first, then read):
    # the trainer's images/s without the renderer in its way, to set the fresh rate against.
    stored=320000 steps=500
    (( QUICK )) && stored=600 steps=30
    stage store 90 python train.py "${recipe[@]}" data.count=$stored data.stream=false data.fresh=false \
        trainer.max_steps=$steps test=false paths.cache_dir=/tmp/cache-store hydra.run.dir=$RUNS/english_store
    python -c "import csv, statistics, sys
rates = [[float(r['train/images_per_sec']) for r in csv.DictReader(open(f)) if r.get('train/images_per_sec')] for f in sys.argv[1:]]
fresh, stored = (statistics.median(r[-5:]) if r else float('nan') for r in rates)
print(f'trainer images/s: fresh {fresh:,.0f}, cached store {stored:,.0f}, ratio {fresh / stored:.3f}')" \
        "$OUT/english_metrics.csv" $RUNS/english_store/csv/metrics.csv >> "$OUT/summary.txt" 2>&1

    # Fresh images per second the renderer makes on every core, apart from the trainer, and
    # its host memory: the first pass draws the fonts' letters into the atlases, the second
    # (new worker processes) finds them drawn.
    renders=200000
    (( QUICK )) && renders=400
    stage render 45 python benchmarks/render.py --experiment english_fonts --count $renders --passes 2 \
        --out $RES/render.json "data.style.photos=[$photos]" "$fonts"
    grep -E "^experiment=|images/s|PSS" "$RES/render.log" >> "$OUT/summary.txt"
fi

variants=(default trainer=gpu) quick=()
(( QUICK )) && variants=(default) quick=(--quick)
stage bench 150 python benchmarks/throughput.py "${quick[@]}" --out "$OUT/throughput.json" --cache-dir /tmp/cache-bench \
    --variants "${variants[@]}"
grep -A14 "^stage" "$RES/bench.log" >> "$OUT/summary.txt"

# Where a start-up's time goes: the slowest imports (cumulative microseconds).
python -X importtime -c "import ocr.training" 2>&1 | sort -t'|' -k2 -n | tail -n 12 >> "$OUT/summary.txt"
small=()
(( QUICK )) && small=(data.count=400 trainer.max_epochs=1)
stage seed 100 python train.py experiment=seed trainer.gpus=$GPUS "${small[@]}" paths.cache_dir=/tmp/cache-seed \
    hydra.run.dir=$RUNS/seed
keep $RUNS/seed/test_metrics.json
sed -nE 's/^\[([^]]*)\]\[[^]]*\]\[[A-Z]+\] - /\1 /p' $RUNS/seed/train.log | cut -c 1-150 >> "$OUT/summary.txt"
cp $RUNS/seed/csv/metrics.csv "$OUT/seed_metrics.csv" 2>/dev/null

stage profile 90 python benchmarks/profile_steps.py "${quick[@]}" experiment=seed trainer.gpus=$GPUS data.count=8000 \
    paths.cache_dir=/tmp/cache-profile --warmup 100 --steps 50 --out "$OUT/profile.txt"
grep -E "^==|^training step|^inference, batch" "$OUT/profile.txt" >> "$OUT/summary.txt"
echo "done after $(( $(date +%s) - START ))s" >> "$OUT/summary.txt"
cat "$OUT/summary.txt"
