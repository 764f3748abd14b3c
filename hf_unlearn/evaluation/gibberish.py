"""`forget_Q_A_gibberish`: how fluent the model's forget-set answers still are (open-unlearning's
`classifier_prob`).

A model can "forget" by emitting noise, which ROUGE alone scores as perfect forgetting. open-unlearning's optional
gibberish metric classifies each forget_Q_A_ROUGE generation with a small sequence classifier and keeps the
probability of class 0 (clean text). It reuses the generations ROUGE already produced, so it costs one classifier
pass over short texts and no extra decoding of the evaluated model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hf_unlearn.errors import first_line
from hf_unlearn.evaluation import metrics as M
from hf_unlearn.evaluation.suite import absent
from hf_unlearn.models import ModelUnavailableError

GIBBERISH_METRIC = "forget_Q_A_gibberish"
#: The metric's generations come from this ROUGE metric (its per-item `generation` texts).
SOURCE_METRIC = "forget_Q_A_ROUGE"
#: open-unlearning's classifier: 3 classes, id 0 = clean text.
DEFAULT_GIBBERISH_MODEL = "madhurjindal/autonlp-Gibberish-Detector-492513457"
#: open-unlearning's TOFU settings: texts truncated to 32 classifier tokens, 32 texts per batch, class 0.
MAX_LENGTH = 32
BATCH_SIZE = 32
CLASS_ID = 0


def class_probabilities(
    model, tokenizer, texts: Sequence[str], batch_size: int = BATCH_SIZE, max_length: int = MAX_LENGTH
) -> list[float]:
    """Softmax probability of `CLASS_ID` for each text, truncated to `max_length` tokens; pure given the model."""
    import torch

    device = next(model.parameters()).device
    scores: list[float] = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            enc = tokenizer(batch, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
            logits = model(**{k: v.to(device) for k, v in enc.items()}).logits
            scores += logits.float().softmax(dim=-1)[:, CLASS_ID].tolist()
    return scores


def load_classifier(folder: Path, dtype: str, device: str):
    """The classifier and its tokenizer, in eval mode on `device`; a one-line error when the folder won't load."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=getattr(torch, dtype))
    except (OSError, ValueError) as err:
        raise ModelUnavailableError(
            f"gibberish classifier '{folder}' could not be loaded: {first_line(err)}"
        ) from None
    return model.to(device).eval(), tokenizer


def score_texts(
    folder: Path, texts: Sequence[str], dtype: str, device: str, max_length: int = MAX_LENGTH
) -> list[float]:
    """Load the classifier, score `texts`, and free it again (it is only needed for this one pass)."""
    import gc

    import torch

    model, tokenizer = load_classifier(folder, dtype, device)
    try:
        return class_probabilities(model, tokenizer, texts, max_length=max_length)
    finally:
        del model
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()


def gibberish_result(generations: Sequence[str], scores: Sequence[float]) -> dict:
    """open-unlearning's classifier-metric layout: mean score, and per item the score with the text it classified."""
    by_index = {
        str(i): {"score": s, "generation": g} for i, (g, s) in enumerate(zip(generations, scores, strict=True))
    }
    return {"agg_value": M.mean(list(scores)), "value_by_index": by_index}


def rouge_generations(rouge: dict) -> list[str]:
    """The generation texts stored by forget_Q_A_ROUGE, in item order."""
    by_index = rouge["value_by_index"]
    return [by_index[key]["generation"] for key in sorted(by_index, key=int)]


def gibberish_metric(
    rouge: dict, folder: Path | None, reason: str | None, dtype: str, device: str, max_length: int = MAX_LENGTH
) -> dict:
    """The metric from a ROUGE metric's entry (TOFU: forget_Q_A_ROUGE; MUSE: forget_verbmem_ROUGE, 512 classifier
    tokens); absent (with why) when ROUGE or the classifier is missing."""
    if rouge.get("agg_value") is None and "absent_reason" in rouge:
        return absent(rouge["absent_reason"])
    if folder is None:
        return absent(reason or "no gibberish classifier")
    texts = rouge_generations(rouge)
    try:
        scores = score_texts(folder, texts, dtype, device, max_length)
    except ModelUnavailableError as err:
        return absent(str(err))
    return gibberish_result(texts, scores)
