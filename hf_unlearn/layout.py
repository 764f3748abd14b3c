"""The run folder's layout: every file and folder name a run writes or reads, declared once.

```
<run_dir>/                       saves/<task>/<run name> by default
  model.safetensors, config.json, tokenizer files     BF16 weights, as `from_pretrained` reads them
  adapter/                       LoRA runs: the adapter (the folder itself holds the merged model)
  recipe.yaml                    the resolved recipe
  run_info.json                  seed, world size, versions, data fingerprints, `finished: true`
  trainer_state.json             the loss curve
  checkpoint-<step>/             the Trainer's checkpoints (when the recipe saves them)
  evals/                         the model's results: <benchmark eval file>, <summary file>, eval_meta.json
    retain/  target/             the reference models' results
    comparison.json              {"target": summary, "retain": summary}, shown beside the model's row
  robustness/                    `hf-unlearn attack` / eval.robustness: ROBUSTNESS.json, one folder per attack
  export/                        what `hf-unlearn publish` uploads (weights, card, portable recipe, evals)
    hub.json                     where it was published
```

Benchmark result files (`TOFU_EVAL.json`, ...) are named by the benchmark (`hf_unlearn.benchmarks`).
"""

RECIPE_FILE = "recipe.yaml"
RUN_INFO = "run_info.json"
TRAINER_STATE = "trainer_state.json"
ADAPTER_DIR = "adapter"
ADAPTER_CONFIG = "adapter_config.json"
MODEL_CONFIG = "config.json"
CHECKPOINT_PREFIX = "checkpoint-"

EVALS_DIR = "evals"
EVAL_META = "eval_meta.json"
RETAIN_SUBDIR = "retain"
TARGET_SUBDIR = "target"
COMPARISON_FILE = "comparison.json"

ROBUSTNESS_DIR = "robustness"
ROBUSTNESS_FILE = "ROBUSTNESS.json"
ROBUSTNESS_TABLE = "ROBUSTNESS.md"
RELEARN_PLOT = "relearn_curves.png"

EXPORT_DIR = "export"
HUB_RECORD = "hub.json"
CARD_FILE = "README.md"
LOSS_PLOT = "loss_curves.png"
