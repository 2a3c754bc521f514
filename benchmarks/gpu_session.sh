#!/usr/bin/env bash
# Every GPU figure of the project in one go (a lent GPU machine is an hour's quarter):
#   1. time to accuracy: `train.py experiment=seed trainer.gpus=1`, cold cache, wall clock;
#   2. benchmarks/throughput.py with the GPU variants;
#   3. the English recipe trained for a few minutes, evaluated on a real test set,
#      then fine-tuned on real training images and evaluated again.
# Usage: benchmarks/gpu_session.sh OUT_DIR REAL_DATA_DIR [ENGLISH_IMAGES] [ENGLISH_MINUTES]
# Each stage has its own time limit, so a failure leaves the others' figures.
set -u
OUT=$1 REAL=$2 IMAGES=${3:-120000} MINUTES=${4:-3}
RES=/tmp/gpu-results RUNS=/tmp/gpu-runs
mkdir -p "$OUT" "$RES" "$RUNS"
export PYTHONUNBUFFERED=1
stage() {  # stage NAME SECONDS COMMAND...: run, log, time
    local name=$1 limit=$2; shift 2
    local t0=$(date +%s%N)
    timeout -k 10 "$limit" "$@" > "$RES/$name.log" 2>&1
    local rc=$?
    printf '%-12s rc=%-3s wall=%6.1fs\n' "$name" "$rc" "$(( ($(date +%s%N) - t0) / 1000000 ))e-3" | tee -a "$RES/summary.txt"
    tar czf "$OUT/results.tgz" -C "$RES" .  # after every stage: a later timeout loses nothing
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$RES/gpu.txt" 2>&1
python -c "import torch, pytorch_lightning as pl; print(torch.__version__, pl.__version__, torch.cuda.get_device_name())" >> "$RES/gpu.txt" 2>&1

stage seed 180 python train.py experiment=seed trainer.gpus=1 paths.cache_dir=/tmp/cache-seed hydra.run.dir=$RUNS/seed
cp $RUNS/seed/test_metrics.json "$RES/seed_test_metrics.json"; cp $RUNS/seed/csv/metrics.csv "$RES/seed_metrics.csv"

stage bench 270 python benchmarks/throughput.py --out "$RES/throughput.json" --cache-dir /tmp/cache-bench \
    --variants default trainer=gpu trainer=gpu,model.skip_nonfinite=false

stage english $((MINUTES * 60 + 150)) python train.py experiment=english trainer=gpu data.count=$IMAGES \
    trainer.max_time=00:00:0$MINUTES:00 paths.cache_dir=/tmp/cache-eng hydra.run.dir=$RUNS/english
cp $RUNS/english/test_metrics.json "$RES/english_test_metrics.json"; cp $RUNS/english/csv/metrics.csv "$RES/english_metrics.csv"
stage eval_svt 60 python evaluate.py ckpt_path=$RUNS/english/checkpoints/best.ckpt data=folder data.root=$REAL/svt_test \
    hydra.run.dir=$RUNS/english_svt
cp $RUNS/english_svt/metrics.json "$RES/english_svt_metrics.json"

stage finetune 120 python train.py trainer=gpu init_from=$RUNS/english/checkpoints/best.ckpt data=folder \
    "data.root=[$REAL/iiit5k_train,$REAL/svt_train]" data.unknown_chars=skip data.batch_size=128 data.eval_batch_size=512 \
    model.lr=5e-4 model.warmup_steps=20 trainer.max_epochs=30 "model.augment={invert:0.1,contrast:0.5,noise:0.3,blur:0.2}" \
    callbacks.early_stopping.patience=8 hydra.run.dir=$RUNS/finetune
cp $RUNS/finetune/csv/metrics.csv "$RES/finetune_metrics.csv"
stage eval_ft 60 python evaluate.py ckpt_path=$RUNS/finetune/checkpoints/best.ckpt data=folder data.root=$REAL/svt_test \
    hydra.run.dir=$RUNS/finetune_svt
cp $RUNS/finetune_svt/metrics.json "$RES/finetune_svt_metrics.json"

python -c "from ocr.checkpoint import slim_checkpoint as s; s('$RUNS/english/checkpoints/best.ckpt', '$OUT/english_fp16.ckpt'); s('$RUNS/finetune/checkpoints/best.ckpt', '$OUT/english_finetuned_fp16.ckpt')" >> "$RES/summary.txt" 2>&1
tar czf "$OUT/results.tgz" -C "$RES" .
cat "$RES/summary.txt"
