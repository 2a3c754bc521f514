#!/usr/bin/env bash
# Every GPU figure of this project in one run of about nine minutes (docs/gpu.md):
#   1. time to accuracy: `train.py experiment=seed trainer.gpus=1`, cold cache, wall clock
#      (after a process that only imports torch and starts CUDA: a fresh machine's first
#      import reads gigabytes of libraries from disk, which no later run pays);
#   2. benchmarks/profile_steps.py on the blog post's steps and on inference, then
#      benchmarks/throughput.py with the GPU variants;
#   3. the English recipe on photos (experiment=english_photo, the Debian wallpapers of
#      .gpu/photos: a model that may be shared) with the full CRNN, trained for what is left of the budget (its
#      epochs sized from the throughput measured in 2), scored on the real word sets, and
#      exported as float16 (split in two parts: one file may carry 16 MiB at most).
# Usage: benchmarks/gpu_session.sh OUT_DIR REAL_DATA_DIR [ENGLISH_IMAGES] [BUDGET_S]  (IMAGES 0: no 3)
# Each stage gets what is left of BUDGET_S (default 540) at most, so the whole stays
# inside a 600 s limit. Results are appended to OUT_DIR/summary.txt after each stage (a
# tar rewritten at the moment of a kill came back unreadable once), in 8 files at most:
# summary.txt, logs.txt, throughput.json, profile.txt, seed_metrics.csv, english_*,
# english.fp16.ckpt.part-*.
set -u
OUT=$1 REAL=$2 IMAGES=${3:-150000} BUDGET=${4:-540}
RES=/tmp/gpu-results RUNS=/tmp/gpu-runs
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

stage warm 60 python -c "import torch, torchvision, pytorch_lightning, hydra; torch.zeros(1, device='cuda'); print(torch.cuda.get_device_name())"
# Where a start-up's time goes: the slowest imports (cumulative microseconds).
python -X importtime -c "import ocr.training" 2>&1 | sort -t'|' -k2 -n | tail -n 12 >> "$OUT/summary.txt"
seed() {  # seed NAME OVERRIDES...: the time-to-accuracy run, where its time went, its epochs
    local name=$1; shift
    stage "$name" 100 python train.py experiment=seed trainer.gpus=1 paths.cache_dir=/tmp/cache-$name hydra.run.dir=$RUNS/$name "$@"
    keep $RUNS/$name/test_metrics.json
    sed -nE 's/^\[([^]]*)\]\[[^]]*\]\[[A-Z]+\] - /\1 /p' $RUNS/$name/train.log | cut -c 1-150 >> "$OUT/summary.txt"
    tr '\r' '\n' < "$RES/$name.log" | grep -oE '^Epoch [0-9]+: 100%[^[]*\[[0-9:]+' | sort -u >> "$OUT/summary.txt"
}
seed seed
seed seed_eager model.cuda_graphs=false  # the same run without CUDA graphs
cp $RUNS/seed/csv/metrics.csv "$OUT/seed_metrics.csv" 2>/dev/null

stage profile 90 python benchmarks/profile_steps.py experiment=seed trainer.gpus=1 data.count=8000 paths.cache_dir=/tmp/cache-profile \
    --warmup 100 --steps 50 --out "$OUT/profile.txt"
grep -E "^==|^training step|^inference, batch" "$OUT/profile.txt" >> "$OUT/summary.txt"

stage bench 150 python benchmarks/throughput.py --out "$OUT/throughput.json" --cache-dir /tmp/cache-bench \
    --variants default model.cuda_graphs=false trainer=gpu trainer=gpu,model.skip_nonfinite=false
grep -A14 "^stage" "$RES/bench.log" >> "$OUT/summary.txt"

if (( IMAGES > 0 )); then  # IMAGES=0: stages 1 and 2 only
    # English: render IMAGES words (at ~0.65 x the rate measured for the default recipe in 2),
    # then train for what is left after testing and scoring (~60 s), the epochs sized from
    # the training rate measured in 2 (the cosine schedule ends with the run; max_time is a net).
    # Batch 512 (lr 4e-3 = 1e-3 x sqrt(512/32)), not the preset's 1,024: twice the updates in
    # the same time, as CTC starts on a loss plateau that this look holds for more than a
    # thousand updates at any batch size (docs/experiments.md, "Leaving CTC's plateau").
    read -r train_s epochs < <(python - "$OUT/throughput.json" "$(left)" "$IMAGES" <<'EOF'
import json, sys
left, images = int(sys.argv[2]), int(sys.argv[3])
try:
    rates = json.load(open(sys.argv[1]))["images_per_sec"]
    render, train = 0.65 * rates["render, all cores"], 0.65 * rates["training: trainer=gpu"]
except Exception:
    render, train = 2400.0, 5000.0
seconds = int(left - images / render - 60)
print(seconds, max(1, min(20, int(train * seconds / (0.98 * images)))))
EOF
    )
    echo "english: ${train_s}s of training planned, $epochs epochs" | tee -a "$OUT/summary.txt"
    # The recipe's fonts, those of packages the GPU machine lacks read from the folders
    # gpu_bundle.sh made in .gpu/fonts.
    fonts=$(python -c "import os; from omegaconf import OmegaConf
f = lambda n: os.path.abspath(f'.gpu/fonts/{n}')
print(','.join(f(n) if os.path.isdir(f(n)) else n for n in OmegaConf.load('conf/experiment/english.yaml').data.fonts))")
    stage english $(( $(left) - 40 )) python train.py experiment=english_photo "data.style.photos=[$PWD/.gpu/photos]" \
        trainer=gpu data.count=$IMAGES data.test_count=1000 \
        data.batch_size=512 model.lr=4e-3 data.val_fraction=0.02 trainer.max_epochs=$epochs trainer.max_time=$(printf '00:00:%02d:%02d' $(( train_s / 60 )) $(( train_s % 60 ))) \
        "data.fonts=[$fonts]" callbacks.progress_bar.refresh_rate=200 paths.cache_dir=/tmp/cache-eng hydra.run.dir=$RUNS/english
    keep $RUNS/english/test_metrics.json
    cp $RUNS/english/csv/metrics.csv "$OUT/english_metrics.csv" 2>/dev/null
    stage eval 35 python evaluate.py ckpt_path=$RUNS/english/checkpoints/best.ckpt data=folder \
        "data.root=[$REAL/svt_test,$REAL/iiit5k_train,$REAL/svt_train]" hydra.run.dir=$RUNS/english_eval
    keep $RUNS/english_eval/metrics.json

    # The synthetic-only model is the one that could be shipped (ocr/weights/README.md).
    python export.py ckpt_path=$RUNS/english/checkpoints/best.ckpt format=fp16 output=$RES/english.fp16.ckpt >> "$OUT/summary.txt" 2>&1 \
        && split -b 12M "$RES/english.fp16.ckpt" "$OUT/english.fp16.ckpt.part-"
    cp $RUNS/english/.hydra/config.yaml "$OUT/english_config.yaml" 2>/dev/null
fi
echo "done after $(( $(date +%s) - START ))s" >> "$OUT/summary.txt"
cat "$OUT/summary.txt"
