"""With eos_as_pad, the evaluator reproduces open-unlearning's numbers (reference sections 1.4 and 4).

The reference below is written independently, the way open-unlearning computes each metric: the chat template
applied per sample, pad = end-of-turn with `attention_mask = ids != pad`, right padding, one forward per metric and
per perturbed-answer slot, a full-vocabulary log-softmax for Min-K / ES / EM, `generate` on left-padded batches,
texts decoded with `clean_up_tokenization_spaces=True` and the ground truth cut out of the decoded conversation.
"""

import itertools
import json
import math
import zlib

import pytest
import torch
from helpers import REPO
from helpers.greedy_ties import (
    is_near_tie,
    next_token_logits,
    text_divergence,
    tied_positions,
    top_two_gap,
    values_under_ties,
)
from rouge_score import rouge_scorer

from hf_unlearn.data.tofu import load_split
from hf_unlearn.evaluation.evaluator import EvalSettings, evaluate

LIMIT = 6
MAX_NEW = 20
SYSTEM, DATE = "You are a helpful assistant.", "10 Apr 2025"


class OpenUnlearningStyle:
    """A straightforward re-implementation of open-unlearning's TOFU evaluation for one model."""

    def __init__(self, model_dir):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.eos = self.tok.eos_token_id
        self.pad = self.eos  # open-unlearning: no pad token -> pad := eos

    def _ids(self, messages, generation_prompt):
        out = self.tok.apply_chat_template(
            messages, tokenize=True, add_generation_prompt=generation_prompt, date_string=DATE, return_dict=True
        )
        return list(out["input_ids"])

    def sample(self, question, answer):
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
        chat = self._ids(msgs + [{"role": "assistant", "content": answer}], False)
        prompt = self._ids(msgs, True)
        if chat[-1] != self.eos:
            chat.append(self.eos)
        return {"input_ids": chat, "labels": [-100] * len(prompt) + chat[len(prompt) :], "prompt": prompt}

    def _right_pad(self, samples):
        width = max(len(s["input_ids"]) for s in samples)
        ids = torch.tensor([s["input_ids"] + [self.pad] * (width - len(s["input_ids"])) for s in samples])
        labels = torch.tensor([s["labels"] + [-100] * (width - len(s["labels"])) for s in samples])
        return ids, (ids != self.pad).long(), labels

    def losses_and_logprobs(self, samples):
        """Per sample: average loss (answer + EOS) and full-vocabulary log-probs of the shifted positions."""
        ids, mask, labels = self._right_pad(samples)
        with torch.no_grad():
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
        out = []
        for b in range(len(samples)):
            shift_labels = labels[b, 1:]
            logp = torch.log_softmax(logits[b, :-1], -1)
            pos = (shift_labels != -100).nonzero().squeeze(-1)
            nll = -logp[pos, shift_labels[pos]]
            out.append({"avg_loss": float(nll.sum() / len(pos)), "logp": logp, "pos": pos, "labels": shift_labels})
        return out

    def generate(self, questions):
        """Decoded texts, and per question its prompt and generated ids (stop tokens cut off)."""
        samples = [self.sample(q, "x")["prompt"] for q in questions]
        width = max(len(s) for s in samples)
        ids = torch.tensor([[self.pad] * (width - len(s)) + s for s in samples])
        mask = (ids != self.pad).long()
        stops = self.model.generation_config.eos_token_id
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=MAX_NEW,
                do_sample=False,
                pad_token_id=self.pad,
                eos_token_id=stops,
            )
        texts = self.tok.batch_decode(out[:, width:], skip_special_tokens=True, clean_up_tokenization_spaces=True)
        stops = set(stops if isinstance(stops, list) else [stops])
        ids = [list(itertools.takewhile(lambda t: t not in stops, row)) for row in out[:, width:].tolist()]
        return [t.strip() for t in texts], list(zip(samples, ids, strict=True))

    def decode(self, ids):
        return self.tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True)

    def ground_truth(self, question, answer):
        s = self.sample(question, answer)
        full = self.tok.decode(s["input_ids"], skip_special_tokens=True, clean_up_tokenization_spaces=True)
        prompt = self.tok.decode(s["prompt"], skip_special_tokens=True, clean_up_tokenization_spaces=True)
        return full.replace(prompt, "").strip()


def _ou_extraction_strength(matches):
    """1 - k/n for the smallest k from which the argmax predicts every remaining true token."""
    n = len(matches)
    for k in range(n):
        if all(matches[k:]):
            break
    return 1 - k / n


def _ou_min_k(values, k=0.4):
    values = sorted(values)
    count = max(1, int(len(values) * k))
    return -sum(values[:count]) / count


@pytest.fixture(scope="module")
def holdout_rows():
    rows = [json.loads(line) for line in (REPO / "hf_unlearn/data/tofu_data/retain99.jsonl").open()][3000:3006]
    return [{"question": r["question"], "answer": r["answer"]} for r in rows]


@pytest.fixture(scope="module")
def both(tiny_target, holdout_rows, tmp_path_factory):
    out = tmp_path_factory.mktemp("compat")
    holdout = out / "holdout.jsonl"
    holdout.write_text("".join(json.dumps(r) + "\n" for r in holdout_rows))
    settings = EvalSettings(
        forget_split="forget01",
        metrics="forget_truth_ratio,forget_Q_A_Prob,forget_Q_A_ROUGE,model_utility,extraction_strength,"
        "exact_memorization,mia_min_k,mia_min_k_plus_plus,mia_loss,mia_zlib",
        holdout_file=str(holdout),
        eos_as_pad=True,
        limit=LIMIT,
        max_new_tokens=MAX_NEW,
        data_source="bundled",
        batch_size=5,
    )
    ours = evaluate(str(tiny_target), out / "ours", settings, progress=False, echo=False).results
    return ours, OpenUnlearningStyle(tiny_target)


def _rows(split):
    return load_split(split, "bundled")[:LIMIT]


@pytest.mark.parametrize(
    ("prefix", "split"),
    [("forget", "forget01_perturbed"), ("retain", "retain_perturbed"), ("ra", "real_authors_perturbed")],
)
def test_probabilities_and_truth_ratios_match(both, prefix, split):
    ours, ou = both
    rows = _rows(split)
    answer = ou.losses_and_logprobs([ou.sample(r["question"], r["answer"]) for r in rows])
    k = len(rows[0]["perturbed_answer"])
    pert = [
        ou.losses_and_logprobs([ou.sample(r["question"], r["perturbed_answer"][j]) for r in rows]) for j in range(k)
    ]
    for i in range(LIMIT):
        assert ours[f"{prefix}_Q_A_Prob"]["value_by_index"][str(i)]["prob"] == pytest.approx(
            math.exp(-answer[i]["avg_loss"]), abs=1e-4
        )
        assert ours[f"{prefix}_Q_A_PERT_Prob"]["value_by_index"][str(i)]["avg_loss"] == pytest.approx(
            [pert[j][i]["avg_loss"] for j in range(k)], abs=1e-4
        )
    if prefix == "ra":
        return
    para = ou.losses_and_logprobs([ou.sample(r["question"], r["paraphrased_answer"]) for r in rows])
    name = "forget_truth_ratio" if prefix == "forget" else "retain_Truth_Ratio"
    for i in range(LIMIT):
        p_wrong = math.exp(-sum(pert[j][i]["avg_loss"] for j in range(k)) / k)
        ratio = p_wrong / (math.exp(-para[i]["avg_loss"]) + 1e-10)
        assert ours[name]["value_by_index"][str(i)]["score"] == pytest.approx(ratio, rel=1e-4)


def test_rouge_matches_exactly_when_generations_match(both):
    ours, ou = both
    rows = _rows("forget01_perturbed")
    generations, generated = ou.generate([r["question"] for r in rows])
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    for i, (row, gen, (prompt, ids)) in enumerate(zip(rows, generations, generated, strict=True)):
        mine = ours["forget_Q_A_ROUGE"]["value_by_index"][str(i)]
        if mine["generation"] != gen:  # another numeric path: allowed only from a near tie of the top two tokens on
            k = text_divergence(ou.decode, ids, mine["generation"])
            logits = next_token_logits(ou.model, prompt + ids[:k], ou.pad)
            assert is_near_tie(logits), (i, k, top_two_gap(logits), mine["generation"], gen)
        truth = ou.ground_truth(row["question"], row["answer"])
        assert mine["ground_truth"] == truth
        assert mine["rougeL_recall"] == scorer.score(truth, mine["generation"])["rougeL"].recall


def test_memorisation_and_mia_scores_match(both, holdout_rows):
    ours, ou = both
    per_side = {"forget": _rows("forget01_perturbed"), "holdout": holdout_rows}
    for side, rows in per_side.items():
        scored = ou.losses_and_logprobs([ou.sample(r["question"], r["answer"]) for r in rows])
        for i, s in enumerate(scored):
            pos = s["pos"][:-1]  # answer tokens, the final EOS label excluded
            true = s["labels"][pos]
            logp = s["logp"][pos]
            token_lp = logp.gather(-1, true[:, None]).squeeze(-1)
            probs = logp.exp()
            mu = (probs * logp).sum(-1)
            sigma = ((probs * logp**2).sum(-1) - mu**2).clamp_min(1e-6).sqrt()
            key = str(i)
            assert ours["mia_loss"][side]["value_by_index"][key]["score"] == pytest.approx(s["avg_loss"], abs=1e-4)
            assert ours["mia_min_k"][side]["value_by_index"][key]["score"] == pytest.approx(
                _ou_min_k(token_lp.tolist()), abs=1e-4
            )
            assert ours["mia_min_k_plus_plus"][side]["value_by_index"][key]["score"] == pytest.approx(
                _ou_min_k(((token_lp - mu) / sigma).tolist()), abs=1e-3
            )
            text = ou.tok.decode(s["labels"][s["pos"]], skip_special_tokens=True)
            assert ours["mia_zlib"][side]["value_by_index"][key]["score"] == pytest.approx(
                s["avg_loss"] / len(zlib.compress(text.encode("utf-8"))), abs=1e-5
            )
            if side == "forget":  # argmax matches; where the top two logits nearly tie, either outcome is right
                matches = (logp.argmax(-1) == true).tolist()
                tied = tied_positions(logp, true.tolist())
                es = values_under_ties(matches, tied, _ou_extraction_strength)
                em = values_under_ties(matches, tied, lambda m: sum(m) / len(m))
                assert any(ours["extraction_strength"]["value_by_index"][key]["score"] == pytest.approx(v) for v in es)
                assert any(ours["exact_memorization"]["value_by_index"][key]["score"] == pytest.approx(v) for v in em)


def test_model_utility_components_match(both):
    ours, ou = both
    rows = _rows("world_facts_perturbed")
    answer = ou.losses_and_logprobs([ou.sample(r["question"], r["answer"]) for r in rows])
    pert = [
        ou.losses_and_logprobs([ou.sample(r["question"], r["perturbed_answer"][j]) for r in rows]) for j in range(3)
    ]
    normalised = []
    for i in range(LIMIT):
        p_true = math.exp(-answer[i]["avg_loss"])
        normalised.append(p_true / (p_true + sum(math.exp(-pert[j][i]["avg_loss"]) for j in range(3)) + 1e-10))
    assert ours["wf_Q_A_Prob_normalised"]["agg_value"] == pytest.approx(sum(normalised) / LIMIT, abs=1e-4)
    names = ["retain_Q_A_Prob", "retain_Q_A_ROUGE", "retain_Truth_Ratio"]
    names += [f"{ds}_{m}" for ds in ("ra", "wf") for m in ("Q_A_Prob_normalised", "Q_A_ROUGE", "Truth_Ratio")]
    parts = [ours[name]["agg_value"] for name in names]
    expected = 0.0 if min(parts) == 0 else len(parts) / sum(1 / p for p in parts)
    assert ours["model_utility"] == {"agg_value": pytest.approx(expected)}
