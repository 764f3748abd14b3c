"""LoRA: adapters train instead of full weights; the adapter-disabled base is the reference; merging is exact."""

import json
import math
from pathlib import Path

import pytest
import torch
from helpers import REPO
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from hf_unlearn.data.formatting import ChatFormatter
from hf_unlearn.data.tofu import load_split
from hf_unlearn.demo import answer_probabilities
from hf_unlearn.pipeline import train
from hf_unlearn.recipe import load_recipe

GRADDIFF = REPO / "recipes" / "tiny" / "forget01_GradDiff_lr0.0005_alpha5_epoch10.yaml"
NPO = REPO / "recipes" / "tofu" / "forget10_NPO_lr1e-05_beta0.1_alpha1_epoch5.yaml"


def _common(model: Path, out: Path) -> dict:
    return {
        "model": str(model),
        "output_dir": str(out),
        "data.source": "bundled",
        "data.retain_limit": 16,
        "eval.enabled": False,
        "bf16": False,
        "effective_batch_size": 8,
        "per_device_train_batch_size": 8,
        "logging_steps": 1,
        "peft.r": 8,
        "peft.alpha": 16,
    }


@pytest.fixture(scope="module")
def lora_graddiff(tmp_path_factory, tiny_target) -> Path:
    out = tmp_path_factory.mktemp("lora") / "graddiff"
    overrides = {**_common(tiny_target, out), "learning_rate": 5e-3, "num_train_epochs": 5}
    return train(load_recipe(GRADDIFF, overrides)).output_dir


def test_graddiff_lora_lowers_forget_probability(lora_graddiff, tiny_target):
    recipe = load_recipe(GRADDIFF, {"model": str(tiny_target), "data.retain_limit": 16})
    before = answer_probabilities(tiny_target, recipe)["forget"]
    after = answer_probabilities(lora_graddiff, recipe)["forget"]
    # a wide margin (seen: after/before about 0.4): the size of the drop depends on the training trajectory
    assert after < 0.8 * before, (before, after)


def test_only_the_adapter_trained_and_is_kept(lora_graddiff):
    adapter = lora_graddiff / "adapter"
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()
    assert not (adapter / "training_args.bin").exists()
    info = json.loads((lora_graddiff / "run_info.json").read_text())
    assert info["peft"]["r"] == 8 and info["peft"]["merged"] is True
    assert json.loads((lora_graddiff / "config.json").read_text())["dtype"] == "bfloat16"


def test_merged_model_equals_adapter_model(lora_graddiff, tiny_target, tokenizer):
    fmt = ChatFormatter(tokenizer)
    ids = torch.tensor(
        [fmt.encode(r["question"], r["answer"])["input_ids"] for r in load_split("forget01", "bundled")[:1]]
    )
    base = AutoModelForCausalLM.from_pretrained(tiny_target, dtype=torch.float32)
    with torch.no_grad():
        base_logits = base(input_ids=ids).logits
        adapted = PeftModel.from_pretrained(base, lora_graddiff / "adapter").eval()
        adapter_logits = adapted(input_ids=ids).logits
        merged = AutoModelForCausalLM.from_pretrained(lora_graddiff, dtype=torch.float32)
        merged_logits = merged(input_ids=ids).logits
    spread = float((adapter_logits - base_logits).abs().max())
    assert spread > 0.5, "the adapter changed nothing: the comparison would be vacuous"
    # the merged file is BF16: allow its rounding, which is far below what the adapter changed
    assert float((merged_logits - adapter_logits).abs().max()) < 0.1 * spread


def test_npo_lora_uses_the_adapter_disabled_base_as_reference(tmp_path, tiny_target, monkeypatch):
    """LoRA's B matrix starts at zero, so at step 0 the policy equals the adapter-disabled reference and
    NPO's forget loss is (2/beta) log 2 exactly; and no second copy of the model is loaded."""
    from hf_unlearn import pipeline

    loads = []
    real_load = pipeline.load_model
    monkeypatch.setattr(pipeline, "load_model", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    overrides = {
        **_common(tiny_target, tmp_path / "npo"),
        "tokenizer": str(tiny_target),
        "model_name": "tiny-llama",
        "data.forget_limit": 8,
        "max_steps": 1,
    }
    loads_in_training = []

    class CountLoads(TrainerCallback):
        def on_train_end(self, args, state, control, **kwargs):
            loads_in_training.append(len(loads))

    run = train(load_recipe(NPO, overrides), callbacks=[CountLoads()]).output_dir
    history = json.loads((run / "trainer_state.json").read_text())["log_history"]
    first = next(h for h in history if "forget_loss" in h)
    assert first["forget_loss"] == pytest.approx(2 / 0.1 * math.log(2), rel=1e-5)
    assert first["log_ratio"] == pytest.approx(0.0, abs=1e-5)
    assert loads_in_training == [1]  # the merge after training loads a fresh base; training held one copy
    assert json.loads((run / "run_info.json").read_text())["peft"]["r"] == 8
    assert AutoTokenizer.from_pretrained(run).chat_template


def test_publish_adapter_instead_of_merged(tmp_path, lora_graddiff, tiny_target, monkeypatch):
    """`publish.merge_adapter: false`: the export holds the adapter (no full weights) and the card says so. The
    base is a local folder without a Hub id: the adapter names it `./<name>`, and loads where a copy sits there."""
    import shutil

    import yaml
    from huggingface_hub import ModelCard

    from hf_unlearn.publish import publish_run

    run = tmp_path / "run"
    shutil.copytree(lora_graddiff, run, ignore=shutil.ignore_patterns("export"))
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe.setdefault("publish", {})["merge_adapter"] = False
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    export = publish_run(run, dry_run=True).export_dir
    names = {p.name for p in export.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "README.md"} <= names
    assert "model.safetensors" not in names
    card = ModelCard.load(export / "README.md")
    assert "LoRA adapter" in card.text
    local_base = f"./{tiny_target.name}"
    assert json.loads((export / "adapter_config.json").read_text())["base_model_name_or_path"] == local_base
    assert f"names it `{local_base}`: put a" in card.text.replace("\n", " ")
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(export, elsewhere / "adapter")
    shutil.copytree(tiny_target, elsewhere / tiny_target.name, ignore=shutil.ignore_patterns("export"))
    monkeypatch.chdir(elsewhere)
    adapted = AutoModelForCausalLM.from_pretrained("adapter")  # transformers + peft load base, then the adapter
    assert hasattr(adapted, "peft_config")
