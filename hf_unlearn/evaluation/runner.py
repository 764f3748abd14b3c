"""Everything the evaluation needs from the model, in one pass of each kind.

1. the union of (question, answer) sequences over all chosen metrics, deduplicated, tokenised once;
2. one scoring pass, each prompt run once with its answers continuing its KV cache (probabilities, and per-token
   detail where MIA / memorisation need it);
3. one generation stream over the prompts of every ROUGE metric;
4. GradNorm backward passes, only when that attack is chosen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from hf_unlearn.evaluation.attacks import gradient_norms
from hf_unlearn.evaluation.eval_sets import EvalSets
from hf_unlearn.evaluation.generation import generate_greedy, stop_token_ids
from hf_unlearn.evaluation.likelihood import score_sequences
from hf_unlearn.evaluation.packing import encode_prompts, encode_sequences
from hf_unlearn.evaluation.suite import ModelOutputs, Needs


@dataclass
class RunStats:
    """What one evaluation computed and how long it took (for the speed report and eval_meta.json)."""

    sequences_scored: int = 0
    scoring_s: float = 0.0
    prompts_generated: int = 0
    tokens_generated: int = 0
    generation_s: float = 0.0
    gradnorm_samples: int = 0
    gradnorm_s: float = 0.0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items() if k != "extra"}
        return {**out, **self.extra}


@dataclass
class RunOptions:
    batch_size: int = 32
    generation_batch_size: int = 128
    max_new_tokens: int = 200
    eos_as_pad: bool = False
    es_one_over_n: bool = False
    progress: bool = False
    #: text every generated answer starts with (the jailbreak probe), None for a plain generation prompt
    answer_prefix: str | None = None


def _answers(value) -> list[str]:
    return value if isinstance(value, list) else [value]


def _decode(tokenizer, ids: list[int], cleanup: bool | None) -> str:
    kwargs = {"skip_special_tokens": True}
    if cleanup is not None:
        kwargs["clean_up_tokenization_spaces"] = cleanup
    return tokenizer.decode(ids, **kwargs)


def run_model(model, formatter, sets: EvalSets, need: Needs, options: RunOptions) -> tuple[ModelOutputs, RunStats]:
    """Score, generate and (if asked) take gradients; return what the metrics look up, and timings."""
    tokenizer = formatter.tokenizer
    mask_id = formatter.eos_token_id if options.eos_as_pad else None
    stats = RunStats()
    out = ModelOutputs(rows=sets.rows, absent=dict(sets.absent), scores={}, es_one_over_n=options.es_one_over_n)

    pairs: dict[tuple[str, str], bool] = {}
    for ds, fld in sorted(need.score):
        if ds not in sets:
            continue
        for row in sets.rows[ds]:
            for answer in _answers(row[fld]):
                key = (row["question"], answer)
                pairs[key] = pairs.get(key, False) or (ds, fld) in need.detail
    keys = list(pairs)
    sequences = encode_sequences(formatter, keys)
    start = time.perf_counter()
    scored = score_sequences(
        model,
        sequences,
        formatter.pad_token_id,
        options.batch_size,
        mask_id,
        detail={i for i, key in enumerate(keys) if pairs[key]},
        progress=options.progress,
        moments=need.moments,
    )
    stats.scoring_s = time.perf_counter() - start
    stats.sequences_scored = len(sequences)
    out.scores = dict(zip(keys, scored, strict=True))
    encoded = dict(zip(keys, sequences, strict=True))
    for ds in ("forget", "holdout"):
        for i, row in enumerate(sets.rows.get(ds, [])):
            key = (row["question"], row["answer"])
            if key in encoded:
                out.answer_texts[(ds, i)] = _answer_text(tokenizer, encoded[key], row["answer"], options.eos_as_pad)

    _generate(model, formatter, sets, need, options, out, stats)

    # GradNorm compares forget with holdout: without a holdout set its metric is absent, so skip the backward passes.
    grad_sets = sorted(need.gradnorm) if "holdout" in sets else []
    grad_items = [(ds, i, row) for ds in grad_sets if ds in sets for i, row in enumerate(sets.rows[ds])]
    if grad_items:
        start = time.perf_counter()
        grad_seqs = encode_sequences(formatter, [(row["question"], row["answer"]) for _, _, row in grad_items])
        norms = gradient_norms(model, grad_seqs, mask_id, options.progress)
        out.gradnorms = {(ds, i): n for (ds, i, _), n in zip(grad_items, norms, strict=True)}
        stats.gradnorm_s = time.perf_counter() - start
        stats.gradnorm_samples = len(grad_items)
    return out, stats


def _answer_text(tokenizer, sequence, answer: str, eos_as_pad: bool) -> str:
    """ZLib's text: the dataset answer; in eos_as_pad mode open-unlearning's decoded labels."""
    if eos_as_pad:
        return _decode(tokenizer, sequence.tail, None)
    return answer.strip()


def prefix_ids(tokenizer, answer_prefix: str | None) -> list[int]:
    """The prefix's tokens as the assistant turn's first tokens: tokenised alone, without special tokens."""
    if not answer_prefix:
        return []
    return list(tokenizer(answer_prefix, add_special_tokens=False)["input_ids"])


def with_answer_prefix(prompts: list[list[int]], prefix: list[int]) -> list[list[int]]:
    """Generation prompts (ending with the assistant header) followed by the prefix, so generation continues it
    and the generated tokens are the continuation alone."""
    return [prompt + prefix for prompt in prompts]


def _generate(model, formatter, sets: EvalSets, need: Needs, options: RunOptions, out, stats: RunStats) -> None:
    items = [(ds, i, row) for ds in sorted(need.generate) if ds in sets for i, row in enumerate(sets.rows[ds])]
    if not items:
        return
    tokenizer = formatter.tokenizer
    plain = encode_prompts(formatter, [row["question"] for _, _, row in items])
    prompts = with_answer_prefix(plain, prefix_ids(tokenizer, options.answer_prefix))
    mask_id = formatter.eos_token_id if options.eos_as_pad else None
    start = time.perf_counter()
    generated = generate_greedy(
        model,
        prompts,
        formatter.pad_token_id,
        stop_token_ids(model, tokenizer),
        options.max_new_tokens,
        options.generation_batch_size,
        mask_id,
        options.progress,
    )
    stats.generation_s = time.perf_counter() - start
    stats.prompts_generated = len(prompts)
    stats.tokens_generated = sum(len(g) for g in generated)
    # open-unlearning decodes with clean_up_tokenization_spaces=True and takes the ground truth from the decoded
    # conversation; by default the generation is decoded as is and compared with the dataset answer.
    cleanup = options.eos_as_pad
    full_ids = {}
    if options.eos_as_pad:
        seqs = encode_sequences(formatter, [(row["question"], row["answer"]) for _, _, row in items])
        full_ids = {(ds, i): s.input_ids for (ds, i, _), s in zip(items, seqs, strict=True)}
    for (ds, i, row), prompt, tokens in zip(items, plain, generated, strict=True):
        prompt_text = _decode(tokenizer, prompt, cleanup)
        if options.eos_as_pad:
            truth = _decode(tokenizer, full_ids[(ds, i)], cleanup).replace(prompt_text, "").strip()
        else:
            truth = row["answer"].strip()
        if options.answer_prefix:
            prompt_text = f"{prompt_text}{options.answer_prefix}"
        out.generations[(ds, i)] = {
            "input": prompt_text,
            "ground_truth": truth,
            "generation": _decode(tokenizer, tokens, cleanup).strip(),
        }
