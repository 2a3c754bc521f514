#!/usr/bin/env bash
# Every GPU figure of the project in one go (a lent GPU machine is an hour's quarter):
#   1. time to accuracy: `train.py experiment=seed trainer.gpus=1`, cold cache, wall clock;
#   2. benchmarks/throughput.py with the GPU variants;
#   3. the English recipe trained for a few minutes, evaluated on a real test set,
#      then fine-tuned on real training images and evaluated again.
# Usage: benchmarks/gpu_session.sh OUT_DIR REAL_DATA_DIR [ENGLISH_IMAGES] [ENGLISH_MINUTES] [BUDGET_S]
# Each stage gets what is left of BUDGET_S (default 540) at most, so the whole stays
# inside the device's 600 s per call; results are copied into OUT_DIR as small files
# after each stage (a tar rewritten at the moment of a kill came back unreadable once).
set -u
OUT=$1 REAL=$2 IMAGES=${3:-120000} MINUTES=${4:-3} BUDGET=${5:-540}
RES=/tmp/gpu-results RUNS=/tmp/gpu-runs
mkdir -p "$OUT" "$RES" "$RUNS"
export PYTHONUNBUFFERED=1
START=$(date +%s)
stage() {  # stage NAME SECONDS COMMAND...: run with min(SECONDS, budget left), log, time
    local name=$1 limit=$2; shift 2
    local left=$(( BUDGET - ($(date +%s) - START) ))
    (( left < limit )) && limit=$left
    if (( limit < 20 )); then echo "$name skipped: budget spent" | tee -a "$OUT/summary.txt"; return; fi
    local t0=$(date +%s%N)
    timeout -k 5 "$limit" "$@" > "$RES/$name.log" 2>&1
    local rc=$?
    printf '%-12s rc=%-3s wall=%6.1fs limit=%ss\n' "$name" "$rc" "$(( ($(date +%s%N) - t0) / 1000000 ))e-3" "$limit" \
        | tee -a "$OUT/summary.txt"
    tail -c 4000 "$RES/$name.log" > "$OUT/last_stage.log"
}
keep() { cp "$1" "$OUT/$2" 2>/dev/null || echo "missing $1" >> "$OUT/summary.txt"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$OUT/summary.txt" 2>&1

stage seed 120 python train.py experiment=seed trainer.gpus=1 paths.cache_dir=/tmp/cache-seed hydra.run.dir=$RUNS/seed
keep $RUNS/seed/test_metrics.json seed_test_metrics.json

stage bench 180 python benchmarks/throughput.py --out "$OUT/throughput.json" --cache-dir /tmp/cache-bench \
    --variants default trainer=gpu trainer=gpu,model.skip_nonfinite=false

stage english $((MINUTES * 60 + 150)) python train.py experiment=english trainer=gpu data.count=$IMAGES \
    trainer.max_time=00:00:0$MINUTES:00 paths.cache_dir=/tmp/cache-eng hydra.run.dir=$RUNS/english
keep $RUNS/english/test_metrics.json english_test_metrics.json
stage eval_svt 40 python evaluate.py ckpt_path=$RUNS/english/checkpoints/best.ckpt data=folder data.root=$REAL/svt_test \
    hydra.run.dir=$RUNS/english_svt
keep $RUNS/english_svt/metrics.json english_svt_metrics.json

stage finetune 80 python train.py experiment=finetune trainer=gpu init_from=$RUNS/english/checkpoints/best.ckpt \
    "data.root=[$REAL/iiit5k_train,$REAL/svt_train]" data.batch_size=128 data.eval_batch_size=512 model.lr=5e-4 \
    hydra.run.dir=$RUNS/finetune
stage eval_ft 40 python evaluate.py ckpt_path=$RUNS/finetune/checkpoints/best.ckpt data=folder data.root=$REAL/svt_test \
    hydra.run.dir=$RUNS/finetune_svt
keep $RUNS/finetune_svt/metrics.json finetune_svt_metrics.json

# The synthetic-only model is the one that could be shipped (ocr/weights/README.md).
python export.py ckpt_path=$RUNS/english/checkpoints/best.ckpt format=fp16 output=$OUT/english_fp16.ckpt >> "$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"
