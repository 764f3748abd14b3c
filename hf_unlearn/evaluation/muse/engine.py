"""MUSE's model passes, with the TOFU engine's batched scoring and generation.

1. one teacher-forced scoring pass over every scored text (VerbMem sequences for extraction strength / exact
   memorisation, privleak documents for the MIAs), length-sorted; per-token detail comes from the same forward;
2. length-sorted, left-padded greedy generation: VerbMem prompts (128 tokens), then the forget and the retain
   KnowMem prompts (32 tokens) as two streams, so the 10 in-context examples every prompt of a stream starts
   with are run once and their KV cache is shared;
3. GradNorm backward passes, only when that attack is chosen.
"""

from __future__ import annotations

import time

from hf_unlearn.evaluation.attacks import gradient_norms
from hf_unlearn.evaluation.generation import generate_greedy, stop_token_ids
from hf_unlearn.evaluation.likelihood import SequenceScore, score_sequences
from hf_unlearn.evaluation.muse import metrics as MM
from hf_unlearn.evaluation.muse.settings import MuseEvalSettings
from hf_unlearn.evaluation.muse.suite import MIA_SETS, MuseOutputs, Needs
from hf_unlearn.evaluation.packing import EncodedSequence
from hf_unlearn.evaluation.runner import RunStats


def _tokenize(tokenizer, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def _decode(tokenizer, ids: list[int]) -> str:
    """Special tokens dropped; the tokenizer's own space clean-up (transformers 5 refuses open-unlearning's forced
    clean-up for BPE tokenizers, and ROUGE's tokenizer ignores punctuation either way)."""
    return tokenizer.decode(ids, skip_special_tokens=True)


def verbmem_prompts(tokenizer, rows: list[dict]) -> list[list[int]]:
    """VerbMem's generation inputs: BOS + the tokenised prompt."""
    return [MM.with_bos(ids, tokenizer.bos_token_id) for ids in _tokenize(tokenizer, [r["prompt"] for r in rows])]


def verbmem_sequences(tokenizer, rows: list[dict], max_length: int) -> list[EncodedSequence]:
    """`prompt + " " + gt` tokenised together (BOS first), cut at prompt length + `max_length`; the labelled part
    starts where the separately tokenised prompt ends."""
    prompts = verbmem_prompts(tokenizer, rows)
    fulls = _tokenize(tokenizer, [r["prompt"] + " " + r["gt"] for r in rows])
    out = []
    for row, prompt, full in zip(rows, prompts, fulls, strict=True):
        head, tail = MM.completion_tail(len(prompt), MM.with_bos(full, tokenizer.bos_token_id), max_length)
        out.append(EncodedSequence(row["prompt"], row["gt"], head, tail))
    return out


def knowmem_prompts(tokenizer, rows: list[dict], shots: list[dict], max_length: int) -> list[list[int]]:
    """BOS + the few-shot prompt of each question, cut at `max_length` tokens."""
    pairs = [(s["question"], s["answer"]) for s in shots]
    texts = [MM.icl_prompt(pairs, r["question"]) for r in rows]
    return [MM.with_bos(ids, tokenizer.bos_token_id)[:max_length] for ids in _tokenize(tokenizer, texts)]


def document_sequences(tokenizer, rows: list[dict], max_length: int) -> list[EncodedSequence]:
    """privleak documents: BOS + up to `max_length` tokens; the first id is the (unlabelled) prompt."""
    out = []
    for row, ids in zip(rows, _tokenize(tokenizer, [r["text"] for r in rows]), strict=True):
        doc = MM.document_ids(ids, tokenizer.bos_token_id, max_length)
        out.append(EncodedSequence("", row["text"], doc[:1], doc[1:]))
    return out


def _score(model, tokenizer, sets, need: Needs, settings: MuseEvalSettings, out: MuseOutputs, stats, progress):
    encoded: dict[str, list[EncodedSequence]] = {}
    for ds in sorted(need.score):
        rows = sets[ds]
        if ds == "verbmem":
            encoded[ds] = verbmem_sequences(tokenizer, rows, settings.max_length)
        else:
            encoded[ds] = document_sequences(tokenizer, rows, settings.max_length)
    flat = [(ds, i) for ds in sorted(encoded) for i, seq in enumerate(encoded[ds]) if seq.tail]
    sequences = [encoded[ds][i] for ds, i in flat]
    start = time.perf_counter()
    scored = score_sequences(
        model,
        sequences,
        _pad_id(tokenizer),
        settings.batch_size,
        detail=set(range(len(sequences))),
        progress=progress,
        moments=need.moments,
        prompt_batch=settings.batch_size,
    )
    stats.scoring_s += time.perf_counter() - start
    stats.sequences_scored += len(sequences)
    empty = SequenceScore(0.0, 0, [], [], [])  # a text with no labelled token: Min-K 0, open-unlearning's value
    for ds, seqs in encoded.items():
        out.scores[ds] = [empty] * len(seqs)
        out.texts[ds] = [_decode(tokenizer, s.tail) for s in seqs]
    for (ds, i), score in zip(flat, scored, strict=True):
        out.scores[ds][i] = score
    if need.gradnorm:
        start = time.perf_counter()
        for ds in MIA_SETS:
            out.gradnorms[ds] = gradient_norms(model, encoded[ds], None, progress)
        stats.gradnorm_s += time.perf_counter() - start
        stats.gradnorm_samples += sum(len(encoded[ds]) for ds in MIA_SETS)


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _generate(model, tokenizer, prompts, max_new_tokens: int, settings, stats, progress) -> list[list[int]]:
    start = time.perf_counter()
    generated = generate_greedy(
        model,
        prompts,
        _pad_id(tokenizer),
        stop_token_ids(model, tokenizer),
        max_new_tokens,
        settings.resolved_generation_batch_size(),
        progress=progress,
    )
    stats.generation_s += time.perf_counter() - start
    stats.prompts_generated += len(prompts)
    stats.tokens_generated += sum(len(g) for g in generated)
    return generated


def _eos_text(tokenizer) -> str | None:
    return tokenizer.eos_token if tokenizer.eos_token else None


def _verbmem_items(model, tokenizer, rows, settings, stats, progress) -> list[dict]:
    prompts = verbmem_prompts(tokenizer, rows)
    generated = _generate(model, tokenizer, prompts, settings.verbmem_max_new_tokens, settings, stats, progress)
    sequences = verbmem_sequences(tokenizer, rows, settings.max_length)
    items = []
    for prompt, tokens, seq in zip(prompts, generated, sequences, strict=True):
        prompt_text = _decode(tokenizer, prompt)
        truth = MM.ground_truth(_decode(tokenizer, seq.tail), prompt_text)
        generation = MM.clean_generation(_decode(tokenizer, tokens), _eos_text(tokenizer))
        items.append(MM.rouge_item(truth, generation, prompt_text))
    return items


def _knowmem_items(model, tokenizer, rows, shots, settings, stats, progress) -> list[dict]:
    prompts = knowmem_prompts(tokenizer, rows, shots, settings.knowmem_max_length)
    generated = _generate(model, tokenizer, prompts, settings.knowmem_max_new_tokens, settings, stats, progress)
    items = []
    for row, prompt, tokens in zip(rows, prompts, generated, strict=True):
        text = MM.clean_generation(_decode(tokenizer, tokens), _eos_text(tokenizer), MM.KNOWMEM_STOP_WORDS)
        items.append(MM.rouge_item(row["answer"].strip(), text, _decode(tokenizer, prompt)))
    return items


def run_model(model, tokenizer, sets: dict[str, list[dict]], need: Needs, settings: MuseEvalSettings, progress=False):
    """Every model quantity the chosen metrics need, and how long each pass took."""
    stats = RunStats()
    out = MuseOutputs()
    if need.score:
        _score(model, tokenizer, sets, need, settings, out, stats, progress)
    if "verbmem" in need.generate:
        out.generations["verbmem"] = _verbmem_items(model, tokenizer, sets["verbmem"], settings, stats, progress)
    for ds in sorted(need.generate - {"verbmem"}):
        shots = sets[f"{ds}_icl"]
        shots = shots if settings.icl_shots is None else shots[: settings.icl_shots]
        out.generations[ds] = _knowmem_items(model, tokenizer, sets[ds], shots, settings, stats, progress)
    return out, stats
