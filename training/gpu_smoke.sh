#!/usr/bin/env bash
# Smoke test of the GPU launcher configs, for a machine with one GPU or more:
#   1-GPU bf16 (gpu_1.yaml), the same with space-time factorised attention (configs/factorised.json),
#   the same at 16x64x64 (the `small-64` preset, factorised too), multi-GPU DDP (gpu_multi.yaml, 2 GPUs
#   or more) and FSDP (fsdp.yaml).
# Each case trains the `small` preset (or the one it names) for 20 steps with EMA, validation and
# checkpoints, then resumes from its last checkpoint for 10 more, and prints PASS or FAIL with the reason.
#
#   bash training/gpu_smoke.sh [WORK_DIR]      (from the repository root; exits 1 if a case fails)
#
# Per case it checks: both runs exit 0; every rank's first log line states the expected
# distributed type, process count, bf16 and a CUDA device; the resumed run starts at step 20 and
# writes checkpoint-30; the ranks end with the same parameter checksum; the validation losses
# are finite; the saved pipeline loads with Diffusers and samples a finite video.
set -u
cd "$(dirname "$0")/.."
WORK_DIR=${1:-$(mktemp -d -t textvid-gpu-smoke-XXXX)}
mkdir -p "$WORK_DIR"
GPUS=$(python -c "import torch; print(torch.cuda.device_count())")
SUMMARY=()
FAILED=0
echo "GPUs: $GPUS; runs under $WORK_DIR"

train() {  # train CASE_DIR LOG CONFIG PROCESSES EXTRA_ARGS...
    local folder=$1 log=$2 config=$3 processes=$4
    shift 4
    accelerate launch --config_file "training/configs/$config" --num_processes "$processes" \
        --main_process_port $((29600 + RANDOM % 300)) \
        training/train_textvid.py --model_preset small --output_dir "$folder" --mixed_precision bf16 \
        --train_batch_size 16 --checkpointing_steps 10 --validation_steps 10 --validation_inference_steps 5 \
        --num_validation_loss_prompts 16 --logging_steps 5 --use_ema --report_to none "$@" >"$log" 2>&1
}

check_case() {  # check_case NAME CONFIG PROCESSES DISTRIBUTED_TYPE [TRAINING_ARGS...]
    local name=$1 config=$2 processes=$3 distributed_type=$4
    shift 4
    local folder="$WORK_DIR/$name" reason=""
    rm -rf "$folder"
    if ! train "$folder" "$WORK_DIR/$name.log" "$config" "$processes" --max_train_steps 20 "$@"; then
        reason="the 20-step run failed (see $WORK_DIR/$name.log)"
    elif ! train "$folder" "$WORK_DIR/$name-resume.log" "$config" "$processes" --max_train_steps 30 \
            --resume_from_checkpoint latest "$@"; then
        reason="the resumed run failed (see $WORK_DIR/$name-resume.log)"
    elif ! reason=$(python - "$folder" "$WORK_DIR/$name.log" "$WORK_DIR/$name-resume.log" "$processes" "$distributed_type" <<'EOF'
import math, re, sys, torch
from pathlib import Path
from diffusers import DiffusionPipeline

folder, first, resumed, processes, distributed_type = sys.argv[1:]
problems = []
for path in (first, resumed):
    log = Path(path).read_text()
    lines = re.findall(r"\[RANK (\d+)\] distributed_type=(\S+) processes=(\d+) mixed_precision=(\S+) device=(\S+)", log)
    expected = {(str(rank), distributed_type, processes, "bf16") for rank in range(int(processes))}
    if {line[:4] for line in lines} != expected or not all(line[4].startswith("cuda") for line in lines):
        problems.append(f"{Path(path).name}: start lines {lines}, expected {sorted(expected)} on cuda")
    losses = [float(loss) for loss in re.findall(r"validation loss (\S+)", log)]
    if not losses or not all(math.isfinite(loss) for loss in losses):
        problems.append(f"{Path(path).name}: validation losses {losses}")
    checksums = set(re.findall(r"\] parameter checksum (\w+)", log))
    if len(checksums) != 1:
        problems.append(f"{Path(path).name}: parameter checksums {checksums}")
log = Path(resumed).read_text()
if not re.search(r"Resumed from \S*checkpoint-20 at step 20", log):
    problems.append("the resumed run did not start from checkpoint-20")
if not (Path(folder) / "checkpoint-30" / "training_state.json").is_file():
    problems.append("no complete checkpoint-30")
pipe = DiffusionPipeline.from_pretrained(folder, trust_remote_code=True).to("cuda")
pipe.set_progress_bar_config(disable=True)
frames = pipe(["HELLO"], num_inference_steps=5, generator=torch.Generator().manual_seed(0), output_type="pt").frames
if not torch.isfinite(frames).all():
    problems.append("the saved pipeline samples non-finite frames")
print("; ".join(problems))
EOF
); then
        reason="the checks crashed (traceback above)"
    fi
    if [ -z "$reason" ]; then
        SUMMARY+=("PASS  $name")
    else
        SUMMARY+=("FAIL  $name: $reason")
        FAILED=1
    fi
    echo "${SUMMARY[-1]}"
}

if [ "$GPUS" -lt 1 ]; then
    echo "FAIL  no CUDA GPU visible to torch"
    exit 1
fi
check_case gpu_1_bf16 gpu_1.yaml 1 NO
check_case gpu_1_bf16_factorised gpu_1.yaml 1 NO --model_config training/configs/factorised.json
check_case gpu_1_bf16_small64 gpu_1.yaml 1 NO --model_preset small-64  # the last --model_preset wins
if [ "$GPUS" -ge 2 ]; then
    check_case gpu_multi_ddp gpu_multi.yaml "$GPUS" MULTI_GPU
else
    SUMMARY+=("SKIP  gpu_multi_ddp: DDP needs 2 GPUs or more (Accelerate refuses --multi_gpu with one process)")
    echo "${SUMMARY[-1]}"
fi
check_case fsdp fsdp.yaml "$GPUS" FSDP

echo
echo "Summary ($GPUS GPUs):"
printf '%s\n' "${SUMMARY[@]}"
exit $FAILED
