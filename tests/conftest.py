"""Shared fixtures: offline env, the tiny model, and tiny target/retain models finetuned once per session.

The environment is set before anything imports huggingface_hub (it reads HF_HUB_OFFLINE / HF_HOME at import).
"""

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="hf_unlearn_test_home_"))

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parent.parent

#: A small but real setting: 2 forget authors (forget01) + 2 retain authors, memorised by the tiny model.
SMALL_FINETUNE = {
    "data.retain_limit": 40,
    "num_train_epochs": 12,
    "learning_rate": 3e-3,
    "logging_steps": 100,
}


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """The untrained tiny Llama + tokenizer, saved like a Hub checkpoint."""
    from hf_unlearn.tiny import save_tiny

    return save_tiny(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="session")
def tokenizer(tiny_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_dir)


def _finetune(tmp_path_factory, tiny_dir, recipe_file: str) -> Path:
    from hf_unlearn.pipeline import train
    from hf_unlearn.recipe import load_recipe

    out = tmp_path_factory.mktemp("finetune") / Path(recipe_file).stem
    recipe = load_recipe(
        REPO / "recipes" / "tiny" / recipe_file, {**SMALL_FINETUNE, "model": str(tiny_dir), "output_dir": str(out)}
    )
    return train(recipe).output_dir


@pytest.fixture(scope="session")
def tiny_target(tmp_path_factory, tiny_dir) -> Path:
    """The tiny model finetuned on forget01 + 40 retain99 rows (the 'full' target of the small setting)."""
    return _finetune(tmp_path_factory, tiny_dir, "tofu_tiny-llama_full.yaml")


@pytest.fixture(scope="session")
def tiny_retain(tmp_path_factory, tiny_dir) -> Path:
    """The tiny model finetuned on the 40 retain rows only (the unlearning ideal of the small setting)."""
    return _finetune(tmp_path_factory, tiny_dir, "tofu_tiny-llama_retain99.yaml")
