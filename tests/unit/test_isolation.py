"""The tests own their Hub environment: no user cache, token or endpoint leaks in (see conftest)."""

import os
import shutil
from pathlib import Path

from conftest import TEST_HOME, isolate_hub_environment

LEAKY = {
    "HF_HUB_CACHE": "/user/hub",
    "HUGGINGFACE_HUB_CACHE": "/user/hub2",
    "HF_TOKEN": "hf_user",
    "HUGGING_FACE_HUB_TOKEN": "hf_user2",
    "HF_TOKEN_PATH": "/user/token",
    "HF_DATASETS_CACHE": "/user/datasets",
    "TRANSFORMERS_CACHE": "/user/transformers",
    "HF_HUB_ENABLE_HF_TRANSFER": "1",
    "HF_ENDPOINT": "https://mirror.example",
    "HF_HOME": "/user/hf",
    "XDG_CACHE_HOME": "/user/cache",
}


def _inside(path: str | Path) -> bool:
    return Path(path).resolve().is_relative_to(Path(TEST_HOME).resolve())


def test_huggingface_hub_resolved_the_temporary_home():
    from huggingface_hub import constants, get_token

    for path in (constants.HF_HOME, constants.HF_HUB_CACHE, constants.HF_TOKEN_PATH, constants.HF_ASSETS_CACHE):
        assert _inside(path), path
    assert get_token() is None
    assert constants.HF_HUB_OFFLINE and constants.ENDPOINT == "https://huggingface.co"
    assert not any(n in os.environ for n in LEAKY if n not in ("HF_HOME", "XDG_CACHE_HOME"))


def test_isolation_drops_every_user_variable():
    saved = dict(os.environ)
    home = None
    try:
        os.environ.update(LEAKY)
        home = isolate_hub_environment()
        assert not any(n in os.environ for n in LEAKY if n not in ("HF_HOME", "XDG_CACHE_HOME"))
        assert os.environ["HF_HOME"].startswith(home) and os.environ["XDG_CACHE_HOME"].startswith(home)
        assert home != TEST_HOME and os.environ["HF_HUB_OFFLINE"] == "1"
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if home:
            shutil.rmtree(home, ignore_errors=True)
