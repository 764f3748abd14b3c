#!/usr/bin/env bash
# The prepared GPU check, for a machine with one CUDA GPU: about 10 minutes on an H100.
#
#   bash benchmarks/gpu_session.sh OUT_DIR
#
# 1. the GPU rows of benchmarks/train_speed.py (every method, Llama-3.2-1B architecture, random weights);
# 2. the GPU case of benchmarks/eval_speed.py (full forget10, hf-unlearn vs the per-metric baseline);
# 3. NPO for 3 steps under the shipped zero3.yaml and fsdp2.yaml (one process, bf16), checking the saved
#    model.safetensors is the full model in BF16.
# Each step has its own time limit and the script goes on if one fails; results land in OUT_DIR.
# Needs the project's requirements (and deepspeed for step 3) importable by python3.
set -u
OUT=${1:-gpu_results}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))" | tee "$OUT/device.txt"

timeout 300 python3 benchmarks/train_speed.py --model llama-1b --device cuda --steps 5 --warmup 2 \
    --json "$OUT/train_speed.json" > "$OUT/train_speed.txt" 2>&1
echo "train_speed: exit $?"; tail -20 "$OUT/train_speed.txt"

timeout 240 python3 benchmarks/eval_speed.py --gpu-only > "$OUT/eval_speed.txt" 2>&1
echo "eval_speed: exit $?"; tail -8 "$OUT/eval_speed.txt"

MODEL=$(mktemp -d)/llama-3.2-1b-arch
python3 -c "import sys; sys.path.insert(0, 'benchmarks'); from eval_speed import build_llama_1b; build_llama_1b(__import__('pathlib').Path(sys.argv[1]))" "$MODEL"
NPO=recipes/tofu/forget10_NPO_lr1e-05_beta0.1_alpha1_epoch5.yaml
for CONFIG in zero3 fsdp2; do
    RUN="$OUT/npo_$CONFIG"
    timeout 150 python3 -m accelerate.commands.launch --config_file "recipes/accelerate/$CONFIG.yaml" --num_processes 1 \
        recipes/run.py "$NPO" --model "$MODEL" --tokenizer "$MODEL" --model_name llama-1b-arch --data.source bundled \
        --output_dir "$RUN" --max_steps 3 --logging_steps 1 --eval.enabled false > "$OUT/npo_$CONFIG.txt" 2>&1
    echo "npo $CONFIG: exit $?"
    python3 - "$RUN" "$MODEL" <<'PY'
import json, sys
from safetensors import safe_open
run, start = sys.argv[1], sys.argv[2]
def shapes(folder):
    with safe_open(f"{folder}/model.safetensors", "pt") as f:
        return {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}
saved, ref = shapes(run), shapes(start)
info = json.load(open(f"{run}/run_info.json"))
print(info["distributed_type"], info["world_size"], "full BF16 weights:", saved == ref)
PY
    rm -rf "$RUN"/model.safetensors "$RUN"/export
done
