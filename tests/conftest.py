"""Shared fixtures: an isolated offline env, the tiny model, and tiny target/retain models finetuned once per session.

The environment is set before anything imports huggingface_hub (it reads its variables once, at import). The tests
own it: a user's cache, token or endpoint would otherwise start real Hub downloads, make the gibberish classifier
present, or let publish tests write into the user's cache.
"""

import os
import tempfile

#: Prefixes of the variables huggingface_hub, transformers, datasets and their downloaders read.
_HUB_PREFIXES = (
    "HF_",
    "HUGGINGFACE_",
    "HUGGING_FACE_",
    "TRANSFORMERS_",
    "PYTORCH_TRANSFORMERS_",
    "PYTORCH_PRETRAINED_",
)


def isolate_hub_environment() -> str:
    """Drop every Hub cache/token/endpoint variable and point HF_HOME and XDG_CACHE_HOME at a fresh folder."""
    for name in [n for n in os.environ if n.startswith(_HUB_PREFIXES)]:
        del os.environ[name]
    home = tempfile.mkdtemp(prefix="hf_unlearn_test_home_")
    os.environ["HF_HOME"] = os.path.join(home, "huggingface")
    os.environ["XDG_CACHE_HOME"] = os.path.join(home, "cache")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    return home


TEST_HOME = isolate_hub_environment()
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from helpers import REPO  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))  # 1 unless the caller chose otherwise


#: A small but real setting: 2 forget authors (forget01) + 2 retain authors, memorised by the tiny model.
SMALL_FINETUNE = {
    "data.retain_limit": 40,
    "num_train_epochs": 20,
    "learning_rate": 4e-3,
    "warmup_epochs": 0.5,
    "effective_batch_size": 8,
    "per_device_train_batch_size": 8,
    "logging_steps": 20,
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


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """Output root shared by the small-setting runs, laid out as `hf-unlearn demo` lays out its runs."""
    return tmp_path_factory.mktemp("demo")


def small_target_overrides(tiny_dir: Path) -> dict:
    return {**SMALL_FINETUNE, "model": str(tiny_dir)}


def _finetune(demo_dir: Path, tiny_dir: Path, recipe_file: str) -> Path:
    from hf_unlearn.demo import placed_recipe, train_or_reuse

    return train_or_reuse(
        placed_recipe(REPO / "recipes" / "tiny" / recipe_file, demo_dir, small_target_overrides(tiny_dir))
    )


@pytest.fixture(scope="session")
def tiny_target(demo_dir, tiny_dir) -> Path:
    """The tiny model finetuned on forget01 + 40 retain99 rows (the 'full' target of the small setting)."""
    return _finetune(demo_dir, tiny_dir, "tofu_tiny-llama_full.yaml")


@pytest.fixture(scope="session")
def tiny_retain(demo_dir, tiny_dir) -> Path:
    """The tiny model finetuned on the 40 retain rows only (the unlearning ideal of the small setting)."""
    return _finetune(demo_dir, tiny_dir, "tofu_tiny-llama_retain99.yaml")
