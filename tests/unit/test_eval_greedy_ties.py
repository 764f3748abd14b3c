"""The near-tie tolerance of greedy comparisons accepts only ties, on hand-made logits."""

from types import SimpleNamespace

import pytest
import torch
from helpers.greedy_ties import (
    assert_matches_up_to_ties,
    assert_same_greedy,
    is_near_tie,
    text_divergence,
    tied_positions,
    values_under_ties,
)

STOP = 4
#: Next-token logits by last token: after 0 tokens 1 and 2 tie; after 1 token 3 wins clearly; after 2, 3 and STOP tie.
TABLE = {
    0: [0.0, 10.0, 10.0 - 1e-5, 0.0, 0.0],
    1: [0.0, 0.0, 0.0, 10.0, 0.0],
    2: [0.0, 0.0, 0.0, 8.0, 8.0 + 1e-6],
    3: [9.0, 0.0, 0.0, 0.0, 0.0],
}


class LastTokenModel:
    """A stand-in causal LM whose next-token logits depend only on the last token."""

    def __call__(self, input_ids, attention_mask):
        logits = torch.tensor([[TABLE[int(t)] for t in input_ids[0]]])
        return SimpleNamespace(logits=logits)


def test_is_near_tie_is_relative_to_the_top_logit():
    assert is_near_tie(torch.tensor(TABLE[0])) and is_near_tie(torch.tensor(TABLE[0]), (1, 2))
    assert not is_near_tie(torch.tensor(TABLE[0]), (1, 3))  # 3 is not one of the tied pair
    assert not is_near_tie(torch.tensor(TABLE[1]))
    assert is_near_tie(torch.tensor([1000.0, 999.5]))  # 0.5 < 1e-3 * 1000
    assert not is_near_tie(torch.tensor([1.0, 0.99]))  # 0.01 >= 1e-3 * 1


def test_greedy_paths_may_differ_only_first_at_a_tie():
    model = LastTokenModel()
    assert_same_greedy(model, [0], [1, 3], [1, 3], [STOP])
    assert_same_greedy(model, [0], [1, 3], [2, 3], [STOP])  # 1 and 2 tie after the prompt
    assert_same_greedy(model, [0, 2], [3], [], [STOP])  # 3 and the stop token tie after 2
    with pytest.raises(AssertionError, match="differ at token 1"):
        assert_same_greedy(model, [0], [1, 3], [1, 0], [STOP])  # 3 wins clearly after 1
    with pytest.raises(AssertionError, match="differ at token 0"):
        assert_same_greedy(model, [1], [3], [], [STOP])  # 3 beats the stop token clearly


def test_argmax_matches_may_flip_only_at_tied_positions():
    rows = torch.tensor([TABLE[0], TABLE[1], TABLE[2]])
    assert tied_positions(rows, [2, 3, 3]) == {0, 2}
    assert tied_positions(rows, [3, 3, 0]) == set()
    assert_matches_up_to_ties([True, True, False], [False, True, True], {0, 2})
    with pytest.raises(AssertionError, match=r"\[1\]"):
        assert_matches_up_to_ties([True, True, False], [True, False, False], {0, 2})
    assert sorted(values_under_ties([True, False, True], {1}, sum)) == [2, 3]


def test_text_divergence_finds_the_first_token_another_text_does_not_share():
    words = {1: " the", 2: " cat", 3: " sat", 4: " dog"}

    def decode(ids):
        return "".join(words[i] for i in ids)

    assert text_divergence(decode, [1, 2, 3], "the cat sat") == 3
    assert text_divergence(decode, [1, 2, 3], "the dog sat") == 1
    assert text_divergence(decode, [1, 2, 3], "a cat") == 0
