"""Pure MUSE metric pieces (as open-unlearning computes them): prompt strings, token cuts, text clean-up, scores.

The shared maths (stemmed ROUGE, Min-K%, AUC, privleak, extraction strength) are TOFU's pure functions, which
open-unlearning's MUSE metrics share too; this module adds what only MUSE has. Nothing here touches a model.
"""

from __future__ import annotations

from collections.abc import Sequence

from hf_unlearn.evaluation import metrics as M

#: open-unlearning's MUSE template for a base model: no chat template, plain question/answer tags.
QUESTION_TAG = "Question: "
ANSWER_TAG = "Answer: "
QUESTION_END = "\n"
ANSWER_END = "\n\n"
#: KnowMem's stop words: the text is cut before the first of them.
KNOWMEM_STOP_WORDS = ("\n\n", "\nQuestion", "Question:")


def icl_prompt(shots: Sequence[tuple[str, str]], question: str) -> str:
    """KnowMem's few-shot prompt (BOS excluded): each example as a question/answer turn, then the question and an
    open answer tag (with its trailing space)."""
    turns = [QUESTION_TAG + q + QUESTION_END + ANSWER_TAG + a + ANSWER_END for q, a in shots]
    return "".join(turns) + QUESTION_TAG + question + QUESTION_END + ANSWER_TAG


def with_bos(ids: Sequence[int], bos_token_id: int | None) -> list[int]:
    """The ids as the tokenizer's special-token call gives them: BOS first when the tokenizer has one."""
    return ([bos_token_id] if bos_token_id is not None else []) + list(ids)


def completion_tail(prompt_length: int, full_ids: Sequence[int], max_length: int) -> tuple[list[int], list[int]]:
    """VerbMem / extraction strength's sequence: `prompt + " " + gt` tokenised together, cut at prompt length +
    `max_length`; the first `prompt_length` ids are the teacher-forced prompt, the rest the labelled continuation."""
    full = list(full_ids[: prompt_length + max_length])
    return full[:prompt_length], full[prompt_length:]


def document_ids(text_ids: Sequence[int], bos_token_id: int | None, max_length: int) -> list[int]:
    """A privleak document: BOS + at most `max_length` text tokens; only the BOS is unlabelled."""
    return with_bos(list(text_ids[:max_length]), bos_token_id)


def clean_generation(text: str, eos_text: str | None, stop_words: Sequence[str] = ()) -> str:
    """Cut at the decoded EOS string and before the first stop word, then strip (open-unlearning's clean-up)."""
    for stop in ([eos_text] if eos_text else []) + list(stop_words):
        text = text.split(stop)[0]
    return text.strip()


def ground_truth(label_text: str, prompt_text: str) -> str:
    """The decoded labels with the decoded prompt removed, stripped (how open-unlearning gets the reference text)."""
    return label_text.replace(prompt_text, "").strip() if prompt_text else label_text.strip()


def rouge_item(ground: str, generation: str, prompt_text: str) -> dict:
    """One ROUGE item as MUSE_EVAL.json stores it: the three scores and the texts."""
    return {**M.rouge(ground, generation), "input": prompt_text, "ground_truth": ground, "generation": generation}


def rouge_result(items: Sequence[dict]) -> dict:
    """MUSE's ROUGE metrics aggregate ROUGE-L F1 (TOFU's use recall)."""
    by_index = {str(i): item for i, item in enumerate(items)}
    return {"agg_value": M.mean([v["rougeL_f1"] for v in items]), "value_by_index": by_index}


def scores_result(scores: Sequence[float | None]) -> dict:
    """Per-item score layout (extraction strength, exact memorisation): the mean and each item's score."""
    return {
        "agg_value": M.mean([s for s in scores if s is not None]),
        "value_by_index": {str(i): {"score": s} for i, s in enumerate(scores)},
    }
