"""Checkpoint files: BF16 conversion of saved weights, run metadata, data fingerprints."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch


def convert_to_bf16(directory: str | Path, tied: dict[str, str] | None = None) -> None:
    """Rewrite every safetensors file of a saved model in BF16 and say so in config.json.

    Training keeps fp32 master weights (bf16 weights silently drop ~1e-5 Adam steps); what users download is BF16.
    Converting the saved files also covers FSDP/ZeRO-3, where the full weights exist only after `save_model`.
    `tied` ({copy: source}, the model's tied weights) drops saved copies of a tied weight: FSDP's full state dict
    gathers a tied embedding into two tensors, and the files should hold what a one-process save holds.
    """
    from safetensors.torch import load_file, save_file

    directory = Path(directory)
    dropped, total_size = set(), 0
    for path in sorted(directory.glob("*.safetensors")):
        tensors = load_file(str(path))
        for copy, source in (tied or {}).items():
            if copy in tensors and source in tensors and torch.equal(tensors[copy], tensors[source]):
                del tensors[copy]
                dropped.add(copy)
        converted = {
            k: (v.to(torch.bfloat16) if v.is_floating_point() else v).contiguous() for k, v in tensors.items()
        }
        total_size += sum(t.numel() * t.element_size() for t in converted.values())
        save_file(converted, str(path), metadata={"format": "pt"})
    index_path = directory / "model.safetensors.index.json"
    if index_path.exists():  # a sharded checkpoint: its index must match the rewritten files
        index = json.loads(index_path.read_text())
        index["weight_map"] = {k: v for k, v in index["weight_map"].items() if k not in dropped}
        index.setdefault("metadata", {})["total_size"] = total_size
        index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    config_path = directory / "config.json"
    if config_path.exists():
        config = json.loads(config_path.read_text())
        config["dtype"] = "bfloat16"
        config.pop("torch_dtype", None)
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def fingerprint_rows(rows: list[dict]) -> str:
    """A short, stable hash of dataset rows (what the run trained on)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:16]


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("hf-unlearn", "torch", "transformers", "accelerate", "datasets", "huggingface-hub", "trl", "peft"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out
