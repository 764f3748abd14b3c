"""Top-k / top-p sampling in the generation engine: the same support as `generate`'s warpers, threaded through."""

from __future__ import annotations

import math

import torch
from transformers import AutoModelForCausalLM
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

from hf_unlearn.evaluation.generation import filter_logits, generate_greedy


def test_top_p_keeps_the_smallest_set_reaching_p_and_top_k_the_k_largest():
    logits = torch.tensor([[math.log(1), math.log(2), math.log(3), math.log(4)]])  # probabilities .1 .2 .3 .4
    kept = lambda out: torch.isfinite(out[0]).nonzero().flatten().tolist()  # noqa: E731
    assert kept(filter_logits(logits, top_p=0.5)) == [2, 3]  # .4 + .3 reach .5; .2 is not needed
    assert kept(filter_logits(logits, top_p=0.75)) == [1, 2, 3]
    assert kept(filter_logits(logits, top_p=0.01)) == [3]  # the most likely token always stays
    assert kept(filter_logits(logits, top_k=2)) == [2, 3]
    assert kept(filter_logits(logits, top_k=3, top_p=0.5)) == [2, 3]
    assert torch.equal(filter_logits(logits), logits)


def test_same_support_as_the_transformers_warpers():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 300, generator=gen) * 3
    ids = torch.zeros((4, 1), dtype=torch.long)
    expected = TopPLogitsWarper(0.9)(ids, TopKLogitsWarper(50)(ids, logits.clone()))
    assert torch.equal(torch.isfinite(filter_logits(logits, top_k=50, top_p=0.9)), torch.isfinite(expected))


def test_top_k_one_sampling_is_greedy_and_sampling_is_seeded(tiny_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_dir).eval()
    prompts = [[1, 5, 9, 13], [1, 7], [1, 2, 3, 4, 5, 6]]
    greedy = generate_greedy(model, prompts, 0, {-1}, max_new_tokens=6, batch_size=2)
    assert generate_greedy(model, prompts, 0, {-1}, 6, 2, temperature=1.0, top_k=1, seed=3) == greedy
    first = generate_greedy(model, prompts, 0, {-1}, 6, 2, temperature=1.0, top_p=0.9, seed=3)
    assert generate_greedy(model, prompts, 0, {-1}, 6, 2, temperature=1.0, top_p=0.9, seed=3) == first
