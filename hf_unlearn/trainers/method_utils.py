"""Small helpers the method trainers share: forwards, local counts for logging, module lookup by name."""

from __future__ import annotations

import re

import torch

from hf_unlearn.trainers.losses import label_token_count


def logits_of(model, batch: dict, **kwargs) -> torch.Tensor:
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **kwargs).logits


def local_count(batch: dict, kind: str) -> torch.Tensor:
    """This micro-batch's count of `kind` (tokens / seqs / positions), as the base trainer counts them."""
    if kind == "tokens":
        return label_token_count(batch["labels"])
    if kind == "seqs":
        return torch.tensor(batch["input_ids"].shape[0], device=batch["input_ids"].device)
    if kind == "positions":
        return batch["attention_mask"].sum()
    raise ValueError(f"unknown count kind {kind!r}")


def as_local_mean(trainer, value: torch.Tensor, path: str, kind: str, batch: dict) -> torch.Tensor:
    """A detached loss term divided by the effective-batch count, rescaled to this micro-batch's mean (for logs)."""
    value = value.detach()
    normalizer = trainer.normalizer(path, kind)
    if normalizer is None:
        return value
    local = local_count(batch, kind).to(value.dtype).clamp_min(1)
    return value * torch.as_tensor(normalizer, dtype=value.dtype, device=value.device) / local


#: Name prefixes wrappers add (PEFT), stripped so `model\.layers\.7` names the same layer with or without LoRA.
WRAPPER_PREFIXES = ("base_model.model.",)


def _plain_name(name: str) -> str:
    for prefix in WRAPPER_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def find_module(model, regex: str) -> torch.nn.Module:
    """The one sub-module whose full name matches `regex` (fullmatch), with a helpful error otherwise."""
    matches = [(name, module) for name, module in model.named_modules() if re.fullmatch(regex, _plain_name(name))]
    if len(matches) == 1:
        return matches[0][1]
    names = [name for name, _ in model.named_modules() if name]
    layers = [n for n in names if re.fullmatch(r".*layers\.\d+", n)]
    hint = f"decoder layers: {layers[0]} .. {layers[-1]}" if layers else f"modules: {', '.join(names[:8])} ..."
    found = "no module" if not matches else f"{len(matches)} modules ({', '.join(n for n, _ in matches[:4])})"
    raise ValueError(f"module_regex: '{regex}' matches {found}; it must match exactly one ({hint})")


def retain_kind(args) -> str:
    """The count a method's retain loss is normalised by: tokens (NLL), positions (KL), sequences (RMU's EMBED_DIFF)."""
    return {"KL": "positions", "EMBED_DIFF": "seqs"}.get(getattr(args, "retain_loss_type", "NLL"), "tokens")


def retain_log(trainer, value: torch.Tensor, batch: dict) -> torch.Tensor:
    """The retain term as this micro-batch's mean, for logs."""
    return as_local_mean(trainer, value, "retain", retain_kind(trainer.args), batch)
