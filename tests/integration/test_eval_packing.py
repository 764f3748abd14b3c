"""One-pass scoring (each prompt once, its answers continuing its KV cache) and the generation stream give what
separate forwards and `generate` give."""

import pytest
import torch
from helpers.greedy_ties import assert_matches_up_to_ties, assert_same_greedy, tied_positions

from hf_unlearn.data.formatting import ChatFormatter
from hf_unlearn.data.tofu import load_split
from hf_unlearn.evaluation.generation import generate_greedy, stop_token_ids
from hf_unlearn.evaluation.likelihood import score_features, score_sequences
from hf_unlearn.evaluation.packing import batch_groups, common_prefix_length, encode_sequences, group_by_prompt


@pytest.fixture(scope="module")
def target_model(tiny_target):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_target, dtype=torch.float32, attn_implementation="sdpa")
    return model.eval(), AutoTokenizer.from_pretrained(tiny_target)


def _pairs(n_questions: int = 5) -> list[tuple[str, str]]:
    rows = load_split("forget01_perturbed", "bundled")[:n_questions]
    return [(r["question"], a) for r in rows for a in [r["answer"], r["paraphrased_answer"], *r["perturbed_answer"]]]


@pytest.mark.parametrize("eos_as_pad", [False, True])
def test_batched_encoding_equals_the_formatter(tokenizer, eos_as_pad):
    formatter = ChatFormatter(tokenizer, eos_as_pad=eos_as_pad)
    pairs = _pairs(8)
    for seq, (q, a) in zip(encode_sequences(formatter, pairs), pairs, strict=True):
        expected = formatter.encode(q, a)
        assert seq.input_ids == expected["input_ids"]
        assert seq.labels == expected["labels"]


def test_common_prefix_leaves_every_prompt_a_token():
    assert common_prefix_length([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert common_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2
    assert common_prefix_length([[7], [7]]) == 0


def test_answers_are_grouped_behind_their_prompt_and_batched_by_answer_count(tokenizer):
    seqs = encode_sequences(ChatFormatter(tokenizer), _pairs(3))
    groups = group_by_prompt(seqs)
    assert len(groups) == 3 and all(len(g.tails) == 7 for g in groups)
    assert sorted(m for g in groups for m in g.members) == list(range(len(seqs)))
    assert all(seqs[m].prompt == g.prompt for g in groups for m in g.members)
    assert [len(b) for b in batch_groups(groups, max_answers=14)] == [2, 1]
    assert [len(b) for b in batch_groups(groups, max_answers=1)] == [1, 1, 1]  # a group is never split


@pytest.mark.parametrize("eos_as_pad", [False, True])
def test_shared_prompt_scores_equal_separate_forwards(target_model, eos_as_pad):
    model, tokenizer = target_model
    formatter = ChatFormatter(tokenizer, eos_as_pad=eos_as_pad)
    pairs = _pairs(4)
    seqs = encode_sequences(formatter, pairs)
    mask_id = formatter.eos_token_id if eos_as_pad else None
    packed = score_sequences(model, seqs, formatter.pad_token_id, 8, mask_id, detail=set(range(len(seqs))))
    feats = [{"input_ids": s.input_ids, "labels": s.labels} for s in seqs]
    separate = score_features(model, feats, formatter.pad_token_id, 8, eos_as_pad)
    for mine, ref in zip(packed, separate, strict=True):
        assert mine.n_tokens == ref["n_tokens"]
        assert mine.avg_loss == pytest.approx(ref["avg_loss"], abs=1e-5)
    # a single prompt: no shared prefix to cache, same numbers
    alone = score_sequences(model, seqs[:2], formatter.pad_token_id, 1, mask_id)
    assert [s.avg_loss for s in alone] == pytest.approx([r["avg_loss"] for r in separate[:2]], abs=1e-5)
    # a model without masked logits_to_keep: all logits computed, then selected; same numbers
    model._hf_unlearn_masked_logits = False
    try:
        full = score_sequences(model, seqs, formatter.pad_token_id, 8, mask_id)
    finally:
        del model._hf_unlearn_masked_logits
    assert [s.avg_loss for s in full] == pytest.approx([s.avg_loss for s in packed], abs=1e-6)
    # per-token detail of one sequence against a direct full-vocabulary computation
    seq, score = seqs[3], packed[3]
    ids = torch.tensor([seq.input_ids])
    mask = (ids != mask_id).long() if eos_as_pad else torch.ones_like(ids)
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[0].float(), -1)
    pos = torch.arange(len(seq.prompt) - 1, len(seq.input_ids) - 2)
    answer = torch.tensor(seq.tail[:-1])
    lp = logp[pos, answer]
    mu = (logp[pos].exp() * logp[pos]).sum(-1)
    var = (logp[pos].exp() * logp[pos] ** 2).sum(-1) - mu**2
    assert score.logprobs == pytest.approx(lp.tolist(), abs=1e-4)
    direct = (logp[pos].argmax(-1) == answer).tolist()
    assert_matches_up_to_ties(score.matches, direct, tied_positions(logp[pos], answer.tolist()))
    assert score.zscores == pytest.approx(((lp - mu) / var.clamp_min(1e-6).sqrt()).tolist(), abs=1e-3)


def _stream_equals_generate(model, formatter, prompts, stops, mask_id) -> list[list[int]]:
    """Our stream against `generate` on the same left-padded batch; they may differ only from a near tie on."""
    from hf_unlearn.data.collator import pad_features

    ours = generate_greedy(model, prompts, formatter.pad_token_id, stops, 24, batch_size=6, mask_token_id=mask_id)
    batch = pad_features([{"input_ids": p} for p in prompts], formatter.pad_token_id, "left", mask_id is not None)
    with torch.no_grad():
        out = model.generate(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            max_new_tokens=24,
            do_sample=False,
            pad_token_id=formatter.pad_token_id,
            eos_token_id=sorted(stops),
        )
    for prompt, mine, row in zip(prompts, ours, out[:, batch["input_ids"].shape[1] :].tolist(), strict=True):
        expected = []
        for tok in row:
            if tok in stops:
                break
            expected.append(tok)
        assert_same_greedy(model, prompt, mine, expected, stops, mask_id)
    return ours


@pytest.mark.parametrize("eos_as_pad", [False, True])
def test_generation_stream_equals_generate(target_model, eos_as_pad):
    model, tokenizer = target_model
    formatter = ChatFormatter(tokenizer, eos_as_pad=eos_as_pad)
    rows = load_split("retain_perturbed", "bundled")[:12] + load_split("forget01_perturbed", "bundled")[:4]
    prompts = [formatter.encode_prompt(r["question"]) for r in rows]
    stops = stop_token_ids(model, tokenizer)
    mask_id = formatter.eos_token_id if eos_as_pad else None
    ours = _stream_equals_generate(model, formatter, prompts, stops, mask_id)
    # whether the model's own stop token comes within 24 tokens depends on its training trajectory: a token that
    # row 0 emits at its 4th step, made a stop token, stops rows mid-stream by construction (the stream drops them)
    extra = {ours[0][3]} if len(ours[0]) > 3 else set()
    cut = _stream_equals_generate(model, formatter, prompts, stops | extra, mask_id)
    assert any(len(g) < 24 for g in cut)
    # one prompt per batch: no shared prefix to prefill once, same tokens
    single = generate_greedy(
        model, prompts[:3], formatter.pad_token_id, stops, 24, batch_size=1, mask_token_id=mask_id
    )
    for prompt, alone, batched in zip(prompts, single, ours, strict=False):
        assert_same_greedy(model, prompt, alone, batched, stops, mask_id)
