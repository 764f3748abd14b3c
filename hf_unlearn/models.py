"""Models and tokenizers: where they are (local folder, Hub, cache), whether their files are whole, loading them.

One module used by training, evaluation and publishing. Resolution fails at once, in one line naming the setting,
when a model can't be had (offline without a cached copy, gated, missing); the file checks read only headers, so a
truncated download or an interrupted save (`SafetensorError: invalid header length` deep inside `from_pretrained`)
fails in milliseconds with one line naming the file and what to do.
"""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

from hf_unlearn.errors import UserError, first_line
from hf_unlearn.layout import ADAPTER_CONFIG, MODEL_CONFIG

logger = logging.getLogger(__name__)

#: Files any one of which makes a folder a tokenizer folder (fast, SentencePiece, BPE, WordPiece, tiktoken).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "tokenizer_config.json")


class ModelUnavailableError(UserError, RuntimeError):
    """The model (or tokenizer) can't be had: offline without a local copy, a missing path, or broken files."""


def _safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file can't be loaded (from its header and size alone), or None when it looks whole."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return f"only {size} bytes"
        (header_len,) = struct.unpack("<Q", head)
        if header_len > size - 8:
            return "invalid header length"
        try:
            header = json.loads(handle.read(header_len))
            ends = [meta["data_offsets"][1] for name, meta in header.items() if name != "__metadata__"]
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return "unreadable header"
    if 8 + header_len + max(ends, default=0) > size:
        return "its tensors run past the end of the file"
    return None


def check_model_folder(folder: str | Path, key: str = "model") -> None:
    """A local model folder must hold config.json and whole weight files; Hub ids are left to the Hub."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    if not (folder / MODEL_CONFIG).is_file() and not (folder / ADAPTER_CONFIG).is_file():
        raise ModelUnavailableError(
            f"{key}: {folder} has no config.json: point {key} at a complete model folder (config.json + weights)"
        )
    for path in sorted(folder.glob("*.safetensors")):
        problem = _safetensors_problem(path)
        if problem:
            raise ModelUnavailableError(
                f"{key}: {path} is truncated or corrupt ({problem}): download or save the model again "
                "(or re-run the training that wrote it)"
            )


def check_tokenizer_folder(folder: str | Path, key: str = "tokenizer") -> None:
    """A local tokenizer folder must hold tokenizer files; say which setting picks another one."""
    folder = Path(folder)
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelUnavailableError(
            f"{key}: {folder} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}): copy them there, or point "
            "the tokenizer (recipe key tokenizer, eval --tokenizer) at a folder or Hub id that has them"
        )


def resolve_model_path(name: str, key: str = "model") -> str:
    """A local folder, or a Hub repo that is reachable (or cached); otherwise fail at once, in one line.

    Without this, `from_pretrained` with no network retries for the better part of a minute and ends in a
    traceback; with it the user learns in a second which recipe key needs the Hub.
    """
    if name == "tiny":
        from hf_unlearn.tiny import ensure_tiny

        return str(ensure_tiny())
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelUnavailableError(f"{key}: '{name}' is not a local folder (and not a Hub id)")
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    cached = try_to_load_from_cache(name, MODEL_CONFIG)
    snapshot = str(Path(cached).parent) if isinstance(cached, str) else None
    if constants.HF_HUB_OFFLINE:
        if snapshot:
            return snapshot
        raise ModelUnavailableError(
            f"{key}: '{name}' needs the Hugging Face Hub, and offline mode is on (HF_HUB_OFFLINE=1) with no cached "
            "copy: connect and unset HF_HUB_OFFLINE, or give a local folder instead"
        )
    try:
        HfApi().model_info(name, timeout=10)
    except GatedRepoError:
        raise ModelUnavailableError(
            f"{key}: '{name}' is gated on the Hub: accept its licence on its model page and log in "
            "(`hf auth login` or HF_TOKEN)"
        ) from None
    except RepositoryNotFoundError:
        raise ModelUnavailableError(f"{key}: '{name}' is neither a local folder nor a model on the Hub") from None
    except Exception as err:  # network failures come in several types (httpx, OSError, hub errors)
        if snapshot:
            logger.warning("%s: the Hub is unreachable, using the cached copy of %s", key, name)
            return snapshot
        raise ModelUnavailableError(
            f"{key}: '{name}' needs the Hugging Face Hub, which is unreachable ({type(err).__name__}): "
            "connect, or give a local folder instead"
        ) from None
    return name


def local_model_dir(name: str, key: str = "model") -> Path:
    """A folder holding the model files: a local folder, or the Hub snapshot (downloaded when online).

    `key` names the setting in the one-line error when the model can't be had (offline fails at once)."""
    path = resolve_model_path(name, key)
    if Path(path).is_dir():
        return Path(path)
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.jinja", "*.txt", "*.tiktoken"]
    try:
        folder = Path(snapshot_download(path, allow_patterns=patterns))
        if not any(folder.glob("*.safetensors")):  # an older checkpoint with PyTorch weights only
            folder = Path(snapshot_download(path, allow_patterns=patterns + ["*.bin"]))
        return folder
    except Exception as err:  # network, auth, missing repo: one line for the user
        raise ModelUnavailableError(f"model '{name}' could not be fetched: {first_line(err)}") from None


def load_tokenizer(name: str, key: str = "tokenizer"):
    """The tokenizer of a Hub id or folder (`key`: the setting that named it, for the one-line error)."""
    from transformers import AutoTokenizer

    path = resolve_model_path(name, key)
    check_tokenizer_folder(path, key)
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise ModelUnavailableError(f"tokenizer '{path}' could not be loaded: {first_line(err)}") from None


def load_model(path: str, dtype=None):
    """The model for training: fp32 master weights unless `dtype` says otherwise (bf16 autocast is the
    Trainer's job)."""
    import torch
    from transformers import AutoModelForCausalLM

    check_model_folder(path)
    try:
        return AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
    except (OSError, ValueError) as err:
        raise ModelUnavailableError(f"model '{path}' could not be loaded: {first_line(err)}") from None


def load_eval_model(model_dir: Path, dtype: str, device: str):
    """The model for evaluation: PyTorch SDPA attention (any device, no extra package), eval mode, on `device`."""
    import torch
    from transformers import AutoModelForCausalLM

    torch_dtype = getattr(torch, dtype)
    check_model_folder(model_dir)
    try:
        try:
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch_dtype, attn_implementation="sdpa")
        except ValueError:  # an architecture without SDPA support
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch_dtype)
    except (OSError, ValueError) as err:
        raise ModelUnavailableError(f"model '{model_dir}' could not be loaded: {first_line(err)}") from None
    return model.to(device).eval()
