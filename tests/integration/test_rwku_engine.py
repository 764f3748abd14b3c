"""RWKU's engine on the untrained tiny model and the synthetic dataset: mechanics, not quality.

Every number the batched engine produces is checked against a plain, unbatched computation: greedy generation
against `model.generate` (up to near ties), MIA loss and Min-K%++ against one forward with labels, the MMLU letter
and TruthfulQA choice scores against a log-softmax of one forward. Then the compat switches.
"""

from __future__ import annotations

import pytest
import torch
from helpers.greedy_ties import assert_same_greedy, is_near_tie
from transformers import AutoModelForCausalLM

from hf_unlearn.benchmarks.rwku import data as D
from hf_unlearn.benchmarks.rwku import engine as E
from hf_unlearn.benchmarks.rwku import metrics as M
from hf_unlearn.benchmarks.rwku import prompts as P
from hf_unlearn.benchmarks.rwku import results as R
from hf_unlearn.benchmarks.rwku.synthetic import write_synthetic_rwku


@pytest.fixture(scope="module")
def model(tiny_dir):
    return AutoModelForCausalLM.from_pretrained(tiny_dir).eval()


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    folder = write_synthetic_rwku(tmp_path_factory.mktemp("rwku") / "RWKU", n_targets=2)
    targets = D.resolve_targets(["1-2"], D.target_names(str(folder)))
    return D.target_rows(D.EVAL_CONFIGS, targets, str(folder))


class Spy:
    """Records every call the engine makes to the generation engine."""

    def __init__(self, monkeypatch):
        self.calls = []
        real = E.generate_greedy

        def spy(model, prompts, pad, stops, max_new, *args, **kwargs):
            out = real(model, prompts, pad, stops, max_new, *args, **kwargs)
            self.calls.append({"prompts": prompts, "stops": set(stops), "max_new": max_new, "tokens": out})
            return out

        monkeypatch.setattr(E, "generate_greedy", spy)


OPTIONS = E.EngineOptions(fluency_sentences=False, generation_batch_size=8, batch_size=8)


@pytest.fixture(scope="module")
def evaluated(model, tokenizer, rows):
    with pytest.MonkeyPatch.context() as mp:
        spy = Spy(mp)
        files, stats = E.evaluate_targets(model, tokenizer, rows, OPTIONS)
    return files, stats, spy.calls


def token_logprobs(model, ids: list[int]) -> torch.Tensor:
    """log p(ids[t] | ids[:t]) for t >= 1, from one plain forward."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
    return torch.log_softmax(logits, -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]


def test_every_file_in_the_authors_layout(evaluated, rows):
    files, stats, _ = evaluated
    assert list(files) == list(rows)
    for target, by_config in rows.items():
        assert list(files[target]) == list(R.TASKS)
        forget = files[target]["forget"]
        n = [len(by_config[f"forget_level{k}"]) for k in (1, 2, 3)]
        assert len(forget["results"]) == sum(n)
        assert all(0.0 <= forget[f"level_{k}_rouge_l_r"] <= 1.0 for k in (1, 2, 3))
        assert set(forget["level_1_rouge"]) == {"rouge-1", "rouge-2", "rouge-l"}
        assert len(files[target]["neighbor"]["results"]) == len(by_config["neighbor_level1"]) + len(
            by_config["neighbor_level2"]
        )
        assert len(files[target]["mmlu"]["all_acc"]) == len(by_config["utility_general"])
        assert set(files[target]["forget_mia"]) == {"loss", "zlib", "mink20", "results"}
        row = R.target_row(files[target])
        assert all(row[c] is not None for c in R.COLUMNS)
    assert stats.prompts_generated == sum(
        len(by[c]) for by in rows.values() for t in E.PROMPTS for c in E.TASK_CONFIGS[t]
    )


def test_generation_streams_match_plain_generate(evaluated, model, tokenizer, rows):
    files, _, calls = evaluated
    # one stream per length: probes and TriviaQA (30 new tokens), BBH and fluency (256), all stopping alike
    assert sorted(c["max_new"] for c in calls) == [30, 256]
    probes = next(c for c in calls if c["max_new"] == 30)
    # prompts: the rendered chat template + suffix, tokenised without adding special tokens (one BOS)
    target = next(iter(rows))
    first = rows[target]["forget_level1"][0]
    content, suffix = P.probe_content(first)
    expected = tokenizer(P.chat_prompt(tokenizer, content, suffix), add_special_tokens=False)["input_ids"]
    assert expected in probes["prompts"]
    assert expected.count(tokenizer.bos_token_id) == 1
    eot, end = tokenizer.convert_tokens_to_ids("<|eot_id|>"), tokenizer.convert_tokens_to_ids("<|end_of_text|>")
    assert probes["stops"] == {eot, end}  # the model's end ids and the tokenizer's eos
    for prompt, mine in list(zip(probes["prompts"], probes["tokens"], strict=True))[:4]:
        with torch.no_grad():
            out = model.generate(
                torch.tensor([prompt]), do_sample=False, max_new_tokens=30, eos_token_id=sorted(probes["stops"]),
                pad_token_id=tokenizer.pad_token_id,
            )[0, len(prompt):].tolist()  # fmt: skip
        theirs = out[: next((i for i, t in enumerate(out) if t in probes["stops"]), len(out))]
        assert_same_greedy(model, prompt, mine, theirs, probes["stops"])
    # the stored prediction is the decoded generation, stripped
    index = probes["prompts"].index(expected)
    text = tokenizer.decode(probes["tokens"][index], skip_special_tokens=True)
    assert files[target]["forget"]["results"][0]["prediction"] == M.probe_prediction(text)


def test_mia_scores_match_one_forward_with_labels(evaluated, model, tokenizer, rows):
    files, _, _ = evaluated
    target = next(iter(rows))
    mia = files[target]["forget_mia"]["results"]
    for i, row in enumerate(rows[target]["mia_forget"]):
        ids = tokenizer.encode(row["text"])
        with torch.no_grad():
            loss = float(model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss)
        assert mia["loss"][i] == pytest.approx(-loss, rel=1e-4)
        lp = token_logprobs(model, ids)
        # every token counts, the last one included: Min-K% at 100% is the mean log-likelihood
        assert mia["mink_1.0"][i] == pytest.approx(float(lp.mean()), rel=1e-4)
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, :-1].float(), -1)
        mu = (logp.exp() * logp).sum(-1)
        sigma = ((logp.exp() * logp * logp).sum(-1) - mu * mu).sqrt()
        z = ((lp - mu) / sigma).tolist()
        assert mia["mink++_0.2"][i] == pytest.approx(M.lowest_mean(z, 0.2), rel=1e-3)


def test_mmlu_and_truthfulqa_scores_match_one_forward(evaluated, model, tokenizer, rows):
    files, _, _ = evaluated
    target = next(iter(rows))
    letters = E.mmlu_letter_ids(tokenizer)
    for row, item in zip(rows[target]["utility_general"], files[target]["mmlu"]["results"], strict=True):
        prompt = P.chat_prompt(tokenizer, P.mmlu_content(row), P.ANSWER_SUFFIX)
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            last = model(input_ids=torch.tensor([ids])).logits[0, -1].float()
        if not is_near_tie(last[letters]):
            assert item["prediction"] == int(last[letters].argmax())
    for row, item in zip(rows[target]["utility_truthfulness"], files[target]["truthful"]["results"], strict=True):
        prompt = E.short_answer_prompt(tokenizer, P.truthfulqa_content(row))
        assert prompt.endswith("<|end_header_id|>\n\nA:")
        n = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        scores = {}
        for choice in E.truthful_choices(row):
            full = tokenizer(prompt + " " + choice, add_special_tokens=False)["input_ids"]
            scores[choice] = float(token_logprobs(model, full)[n - 1 :].sum())
        mc1, mc2 = M.truthfulqa_mc(scores, row["mc1_targets"], row["mc2_targets"])
        assert item["MC2"] == pytest.approx(mc2, rel=1e-4)
        true1 = row["mc1_targets"]["choices"][0]
        gap = scores[true1] - max(scores[c] for c in row["mc1_targets"]["choices"][1:])
        if abs(gap) > 1e-4:
            assert item["MC1"] == mc1


def test_compat_mode_doubles_bos_and_uses_the_authors_stop_lists(monkeypatch, model, tokenizer, rows):
    spy = Spy(monkeypatch)
    options = E.EngineOptions(compat=True, fluency_sentences=False, generation_batch_size=8, batch_size=8)
    files, _ = E.evaluate_targets(model, tokenizer, rows, options, tasks=("forget", "bbh"))
    bos = tokenizer.bos_token_id
    assert all(p[:2] == [bos, bos] for call in spy.calls for p in call["prompts"])
    stops = {c["max_new"]: c["stops"] for c in spy.calls}
    assert stops == {30: {tokenizer.eos_token_id}, 256: {tokenizer.eos_token_id}}  # " \n", "\n": no such tokens
    for target in rows:
        assert set(files[target]) == {"forget", "bbh"}
        assert files[target]["bbh"]["EM"] == files[target]["bbh"]["EM_rwku_compat"]
