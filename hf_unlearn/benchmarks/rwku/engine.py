"""RWKU's model passes on the package's batched engine: every target's probes in a few length-sorted streams.

1. generation: the forget and neighbor probes (greedy, 30 new tokens), BBH (256), TriviaQA (30) and fluency (256)
   prompts of every target, one stream per (length, stop set), sorted by length and left-padded;
2. scoring: the MMLU letters (the next-token log-probability of " A".." D" after each prompt) and the TruthfulQA
   choices (summed log-probability of " " + choice) as one pass, each prompt run once with its answers continuing
   its KV cache; the MIA passages (mean NLL, per-token log-probs and Min-K%++ z-scores from the same forward).

The authors' evaluators (`LLaMA-Factory/src/llmtuner/eval/` in github.com/jinzhuoran/RWKU) render each prompt with
the chat template as text and tokenise it again with special tokens, which doubles Llama-3's `<|begin_of_text|>`;
they stop generation at the tokenizer's `eos_token` (overriding the model's end-of-turn ids, which for Phi-3 never
stop) plus `<|eot_id|>`, and cut the prompt from the decoded text by its decoded length. `compat=True` reproduces
all three; by default the rendered prompt is tokenised without adding special tokens (one BOS), generation stops at
the model's own end-of-sequence ids, and the generated tokens are decoded alone. What cannot be reproduced: the
authors' fixed batches (16 / 8 / 4 rows in file order) whose left padding nudges fp16 logits, and their TruthfulQA
batches, scored without position ids, so a left-padded choice is scored at shifted positions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hf_unlearn.benchmarks.rwku import prompts as P
from hf_unlearn.benchmarks.rwku import results as R
from hf_unlearn.benchmarks.rwku.metrics import mia_result, mia_sample, mmlu_prediction, word_tokens
from hf_unlearn.evaluation.generation import generate_greedy, stop_token_ids
from hf_unlearn.evaluation.likelihood import score_sequences
from hf_unlearn.evaluation.packing import EncodedSequence
from hf_unlearn.evaluation.runner import RunStats

#: task (result file) -> the configs it reads, per target.
TASK_CONFIGS: dict[str, tuple[str, ...]] = {
    "forget": ("forget_level1", "forget_level2", "forget_level3"),
    "neighbor": ("neighbor_level1", "neighbor_level2"),
    "mmlu": ("utility_general",),
    "bbh": ("utility_reason",),
    "truthful": ("utility_truthfulness",),
    "triviaqa": ("utility_factuality",),
    "forget_mia": ("mia_forget",),
    "retain_mia": ("mia_retain",),
    "fluency": ("utility_fluency",),
}
#: New tokens per generated task (the authors' `max_new_tokens`).
MAX_NEW_TOKENS = {"forget": 30, "neighbor": 30, "bbh": 256, "triviaqa": 30, "fluency": 256}
#: Stop tokens the authors add to the tokenizer's eos, per generated task (BBH: none; "corpus": the forget corpus
#: generation). " \n" and "\n" are not
#: tokens of Llama-3's vocabulary; where a tokenizer maps unknown tokens to `unk`, that id stops generation.
COMPAT_STOP_TOKENS = {
    "forget": ("<|eot_id|>", " \n", "\n"),
    "neighbor": ("<|eot_id|>", " \n", "\n"),
    "bbh": (),
    "triviaqa": ("<|eot_id|>",),
    "fluency": ("<|eot_id|>",),
    "corpus": ("<|eot_id|>",),
}


@dataclass(frozen=True)
class EngineOptions:
    """How the evaluation runs. `compat`: the authors' tokenisation, stop tokens and decoding (module docstring) and
    their BBH match; `icu`: prepend the in-context-unlearning instruction to every prompt; `fluency_sentences`:
    split outputs into Punkt sentences before words, as `nltk.word_tokenize` does (needs NLTK's punkt data)."""

    compat: bool = False
    icu: bool = False
    batch_size: int = 32
    generation_batch_size: int = 64
    fluency_sentences: bool = True
    progress: bool = False


def encode_texts(tokenizer, texts: Sequence[str], special_tokens: bool) -> list[list[int]]:
    """Token ids of rendered prompts; `special_tokens` adds the tokenizer's own (a second BOS after a template's)."""
    if not texts:
        return []
    return [list(ids) for ids in tokenizer(list(texts), add_special_tokens=special_tokens)["input_ids"]]


def continuation_text(tokenizer, prompt: Sequence[int], tokens: Sequence[int], compat: bool) -> str:
    """The generated text. `compat`: decode prompt + generation and drop the decoded prompt's length of characters,
    as the authors do; otherwise decode the generated tokens alone. Special tokens are skipped either way."""
    if compat:
        prompt_text = tokenizer.decode(list(prompt), skip_special_tokens=True)
        return tokenizer.decode(list(prompt) + list(tokens), skip_special_tokens=True)[len(prompt_text) :]
    return tokenizer.decode(list(tokens), skip_special_tokens=True)


def reference_stop_ids(tokenizer, tokens: Sequence[str]) -> set[int]:
    """The tokenizer's eos and the ids `convert_tokens_to_ids` gives the named tokens (those it maps to None
    dropped)."""
    ids = [tokenizer.eos_token_id] + [tokenizer.convert_tokens_to_ids(t) for t in tokens]
    return {int(i) for i in ids if i is not None}


def task_stop_ids(model, tokenizer, task: str, compat: bool) -> set[int]:
    """Where generation of `task` stops: the authors' list (`compat`), else the model's end ids and the
    tokenizer's eos."""
    if compat:
        return reference_stop_ids(tokenizer, COMPAT_STOP_TOKENS[task])
    return stop_token_ids(model, tokenizer) | reference_stop_ids(tokenizer, ())


def pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def generate_texts(
    model,
    tokenizer,
    prompts: Sequence[list[int]],
    max_new_tokens: int,
    stop_ids: set[int],
    options: EngineOptions,
    stats: RunStats | None = None,
    **sampling,
) -> list[str]:
    """Continuations of token prompts with the package's generation engine, decoded (`continuation_text`);
    `sampling`: `temperature`, `top_k`, `top_p`, `seed` of `generate_greedy` (greedy without them)."""
    start = time.perf_counter()
    tokens = generate_greedy(
        model,
        list(prompts),
        pad_id(tokenizer),
        stop_ids,
        max_new_tokens,
        options.generation_batch_size,
        progress=options.progress,
        **sampling,
    )
    if stats is not None:
        stats.generation_s += time.perf_counter() - start
        stats.prompts_generated += len(prompts)
        stats.tokens_generated += sum(len(t) for t in tokens)
    return [continuation_text(tokenizer, p, t, options.compat) for p, t in zip(prompts, tokens, strict=True)]


# ---- the prompts of each task -------------------------------------------------------------------------------


def probe_prompt(tokenizer, row: dict, icu: bool) -> str:
    content, suffix = P.probe_content(row, icu)
    return P.chat_prompt(tokenizer, content, suffix)


def short_answer_prompt(tokenizer, content: str) -> str:
    """The rendered prompt followed by BBH's / TruthfulQA's `A:` suffix."""
    rendered = P.chat_prompt(tokenizer, content)
    return rendered + P.short_answer_suffix(rendered)


#: generated task -> its prompt text for one row.
PROMPTS: dict[str, Callable[[object, dict, bool], str]] = {
    "forget": probe_prompt,
    "neighbor": probe_prompt,
    "bbh": lambda tok, row, icu: short_answer_prompt(tok, P.bbh_content(row, icu)),
    "triviaqa": lambda tok, row, icu: P.chat_prompt(tok, P.triviaqa_content(row, icu), P.SHORT_ANSWER),
    "fluency": lambda tok, row, icu: P.chat_prompt(tok, P.fluency_content(row, icu)),
}


def mmlu_letter_ids(tokenizer) -> list[int]:
    """The id scored for each option: the last token of " A" .. " D"."""
    return [tokenizer.encode(" " + letter, add_special_tokens=False)[-1] for letter in P.MMLU_LETTERS]


def truthful_choices(row: dict) -> list[str]:
    """Every choice a TruthfulQA row scores: its mc2 choices, then any mc1 choice not among them."""
    out = list(dict.fromkeys(row["mc2_targets"]["choices"]))
    return out + [c for c in dict.fromkeys(row["mc1_targets"]["choices"]) if c not in out]


def choice_sequence(tokenizer, prompt: str, choice: str, special_tokens: bool) -> EncodedSequence:
    """A TruthfulQA choice as the authors score it: `prompt + " " + choice` tokenised whole, the scored tokens
    being those past the separately tokenised prompt's length."""
    text = (prompt if prompt[-1:] in ("\n", " ") else prompt + " ") + choice
    prompt_ids, full = encode_texts(tokenizer, [prompt, text], special_tokens)
    return EncodedSequence(prompt, choice, full[: len(prompt_ids)], full[len(prompt_ids) :])


def mia_sequence(tokenizer, text: str) -> EncodedSequence | None:
    """A passage as `tokenizer.encode(text)` gives it (BOS added, no template, no truncation): every token after
    the first is scored. None for a passage of one token (no loss: the authors skip it)."""
    ids = tokenizer.encode(text)
    return EncodedSequence("", text, ids[:1], ids[1:]) if len(ids) > 1 else None


# ---- running ------------------------------------------------------------------------------------------------


def _generate_all(model, tokenizer, rows, tasks, options, stats) -> dict[tuple, str]:
    """(target, task, config, row index) -> raw generated text, one engine stream per (length, stop set)."""
    jobs: dict[tuple[int, frozenset], list[tuple[tuple, str]]] = {}
    for task in (t for t in tasks if t in PROMPTS):
        stream = (MAX_NEW_TOKENS[task], frozenset(task_stop_ids(model, tokenizer, task, options.compat)))
        for target, by_config in rows.items():
            for config in TASK_CONFIGS[task]:
                for i, row in enumerate(by_config.get(config, [])):
                    prompt = PROMPTS[task](tokenizer, row, options.icu)
                    jobs.setdefault(stream, []).append(((target, task, config, i), prompt))
    out: dict[tuple, str] = {}
    for (max_new, stops), items in jobs.items():
        prompts = encode_texts(tokenizer, [p for _, p in items], options.compat)
        texts = generate_texts(model, tokenizer, prompts, max_new, set(stops), options, stats)
        out.update({key: text for (key, _), text in zip(items, texts, strict=True)})
    return out


def _score(model, tokenizer, sequences: list[EncodedSequence], options, stats, **kwargs) -> list:
    if not sequences:
        return []
    start = time.perf_counter()
    scored = score_sequences(
        model, sequences, pad_id(tokenizer), options.batch_size, progress=options.progress, **kwargs
    )
    stats.scoring_s += time.perf_counter() - start
    stats.sequences_scored += len(sequences)
    return scored


def _choice_scores(model, tokenizer, rows, tasks, options, stats) -> dict[tuple, list]:
    """(target, task, row index) -> per-row scores: the four letter log-probs (MMLU) or {choice: log-prob}
    (TruthfulQA)."""
    sequences: list[EncodedSequence] = []
    owners: list[tuple] = []
    letters = mmlu_letter_ids(tokenizer) if "mmlu" in tasks else []
    for target, by_config in rows.items():
        if "mmlu" in tasks:
            for i, row in enumerate(by_config.get("utility_general", [])):
                prompt = P.chat_prompt(tokenizer, P.mmlu_content(row, options.icu), P.ANSWER_SUFFIX)
                (ids,) = encode_texts(tokenizer, [prompt], options.compat)
                for j, letter in enumerate(letters):
                    sequences.append(EncodedSequence(prompt, P.MMLU_LETTERS[j], ids, [letter]))
                    owners.append((target, "mmlu", i, j))
        if "truthful" in tasks:
            for i, row in enumerate(by_config.get("utility_truthfulness", [])):
                prompt = short_answer_prompt(tokenizer, P.truthfulqa_content(row, options.icu))
                for choice in truthful_choices(row):
                    seq = choice_sequence(tokenizer, prompt, choice, options.compat)
                    if seq.tail:
                        sequences.append(seq)
                        owners.append((target, "truthful", i, choice))
    out: dict[tuple, list] = {}
    for owner, score in zip(owners, _score(model, tokenizer, sequences, options, stats, moments=False), strict=True):
        out.setdefault(owner[:3], []).append((owner[3], -score.nll_sum))
    return out


def _mia_samples(model, tokenizer, rows, tasks, options, stats) -> dict[tuple, list]:
    """(target, task) -> per passage its `mia_sample` scores (None: a passage with no scored token)."""
    keys, texts, sequences = [], [], []
    for task in ("forget_mia", "retain_mia"):
        if task not in tasks:
            continue
        for target, by_config in rows.items():
            for row in by_config.get(TASK_CONFIGS[task][0], []):
                text = P.mia_text(row, options.icu)
                keys.append((target, task))
                texts.append(text)
                sequences.append(mia_sequence(tokenizer, text))
    present = [s for s in sequences if s is not None]
    scored = iter(
        _score(
            model,
            tokenizer,
            present,
            options,
            stats,
            detail=set(range(len(present))),
            moments=True,
            detail_final=True,
            prompt_batch=options.batch_size,
        )
    )
    out: dict[tuple, list] = {}
    for key, text, seq in zip(keys, texts, sequences, strict=True):
        sample = None
        if seq is not None:
            s = next(scored)
            sample = mia_sample(s.avg_loss, text, s.logprobs, s.zscores)
        out.setdefault(key, []).append(sample)
    return out


def _target_files(target: str, by_config: dict, tasks, generated, choices, mia, options) -> dict[str, dict]:
    """One target's result files from the pooled model outputs."""

    def config_rows(task: str, k: int = 0) -> list[dict]:
        return by_config.get(TASK_CONFIGS[task][k], [])

    def outputs(task: str, k: int = 0) -> list[str]:
        config = TASK_CONFIGS[task][k]
        return [generated[(target, task, config, i)] for i in range(len(by_config.get(config, [])))]

    files: dict[str, dict] = {}
    for task in tasks:
        if task in ("forget", "neighbor"):
            levels = range(len(TASK_CONFIGS[task]))
            files[task] = R.probe_file([(config_rows(task, k), outputs(task, k)) for k in levels])
        elif task == "mmlu":
            picks = [
                mmlu_prediction([v for _, v in choices[(target, task, i)]]) for i in range(len(config_rows(task)))
            ]
            files[task] = R.mmlu_file(config_rows(task), picks)
        elif task == "truthful":
            scores = []
            for i, row in enumerate(config_rows(task)):
                scored = dict(choices.get((target, task, i), []))
                scores.append({c: scored.get(c, 0.0) for c in truthful_choices(row)})  # an empty choice sums to 0
            files[task] = R.truthful_file(config_rows(task), scores)
        elif task == "bbh":
            files[task] = R.bbh_file(config_rows(task), outputs(task), options.compat)
        elif task == "triviaqa":
            files[task] = R.triviaqa_file(config_rows(task), outputs(task))
        elif task == "fluency":
            texts = outputs(task)
            tokens = [word_tokens(t, options.fluency_sentences) for t in texts]
            files[task] = R.fluency_file(config_rows(task), texts, tokens)
        else:
            files[task] = mia_result(mia.get((target, task), []))
    return files


def evaluate_targets(
    model, tokenizer, rows: dict[str, dict[str, list[dict]]], options: EngineOptions | None = None, tasks=R.TASKS
) -> tuple[dict[str, dict[str, dict]], RunStats]:
    """Every chosen task for every target: target -> task -> the content of the authors' result file (`results`).

    `rows`: target (its folder name) -> config -> that target's rows (`data.target_rows`). A task whose configs a
    target lacks is computed over no rows. The model is used as given (dtype, device, adapters)."""
    options = options or EngineOptions()
    unknown = [t for t in tasks if t not in TASK_CONFIGS]
    if unknown:
        raise ValueError(f"unknown RWKU task(s) {unknown}; allowed: {', '.join(TASK_CONFIGS)}")
    stats = RunStats()
    generated = _generate_all(model, tokenizer, rows, tasks, options, stats)
    choices = _choice_scores(model, tokenizer, rows, tasks, options, stats)
    mia = _mia_samples(model, tokenizer, rows, tasks, options, stats)
    files = {t: _target_files(t, by_config, tasks, generated, choices, mia, options) for t, by_config in rows.items()}
    return files, stats
