"""Comparing greedy choices of two numerically different code paths (batched vs single, KV cache vs full forward).

Two float32 paths agree to about 1e-6, so their argmax can differ only where the top two logits nearly tie. A
mismatch is accepted only there: at the first differing position the logits are recomputed and the two candidates
must be within `TIE_TOLERANCE` (relative to the top logit) of each other; anything else fails.
"""

from collections.abc import Callable, Iterable, Sequence
from itertools import combinations

import torch

#: Relative gap (to max(1, |top logit|)) below which two candidates count as tied; far above float32 path noise.
TIE_TOLERANCE = 1e-3
#: More tied positions than this in one sequence means a degenerate model, not rounding: the caller fails.
MAX_TIES = 8


def tie_scale(row: torch.Tensor, tol: float = TIE_TOLERANCE) -> float:
    """The largest logit gap that still counts as a tie for this row of logits."""
    return tol * max(1.0, abs(float(row.max())))


def top_two_gap(row: torch.Tensor) -> float:
    top = torch.topk(row.float(), 2).values
    return float(top[0] - top[1])


def is_near_tie(row: torch.Tensor, candidates: Iterable[int] | None = None, tol: float = TIE_TOLERANCE) -> bool:
    """The top two logits are within the tolerance; given candidates, each is also within it of the top."""
    scale = tie_scale(row, tol)
    if top_two_gap(row) >= scale:
        return False
    best = float(row.max())
    return all(best - float(row[c]) < scale for c in candidates or ())


def tied_positions(rows: torch.Tensor, targets: Sequence[int], tol: float = TIE_TOLERANCE) -> set[int]:
    """Positions whose target logit is within the tolerance of the best other logit: argmax == target may flip."""
    tied = set()
    for p, (row, t) in enumerate(zip(rows.float(), targets, strict=True)):
        others = row.clone()
        others[t] = float("-inf")
        if abs(float(row[t]) - float(others.max())) < tie_scale(row, tol):
            tied.add(p)
    return tied


def assert_matches_up_to_ties(mine: Sequence[bool], theirs: Sequence[bool], tied: set[int]) -> None:
    """Per-position argmax matches may differ only at tied positions."""
    differ = {p for p, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b}
    assert differ <= tied, f"argmax matches differ at {sorted(differ - tied)}, where the logits do not tie"


def values_under_ties(matches: Sequence[bool], tied: set[int], fn: Callable[[list[bool]], float]) -> list[float]:
    """Every value `fn` takes when any subset of the tied positions' matches flips."""
    assert len(tied) <= MAX_TIES, f"{len(tied)} tied positions: a degenerate model, not float rounding"
    out = []
    for n in range(len(tied) + 1):
        for subset in combinations(sorted(tied), n):
            out.append(fn([not m if p in subset else m for p, m in enumerate(matches)]))
    return out


def next_token_logits(model, ids: Sequence[int], mask_token_id: int | None = None) -> torch.Tensor:
    """One plain forward; `mask_token_id` is masked out of the attention as the eos-as-pad paths do."""
    batch = torch.tensor([list(ids)])
    mask = torch.ones_like(batch) if mask_token_id is None else (batch != mask_token_id).long()
    with torch.no_grad():
        return model(input_ids=batch, attention_mask=mask).logits[0, -1].float()


def text_divergence(decode: Callable[[list[int]], str], tokens: Sequence[int], text: str) -> int:
    """The first token of `tokens` whose decoded prefix stops being a prefix of `text` (another path's output)."""
    k = len(tokens)
    while k > 0 and not text.startswith(decode(list(tokens[:k])).strip()):
        k -= 1
    return k


def _choice(tokens: Sequence[int], k: int, row: torch.Tensor, stops: Iterable[int]) -> int:
    """The token a greedy path took at k; past its end it stopped, on its most likely stop token."""
    if k < len(tokens):
        return tokens[k]
    return max(stops, key=lambda s: float(row[s]))


def assert_same_greedy(
    model,
    prompt: Sequence[int],
    mine: Sequence[int],
    theirs: Sequence[int],
    stops: Iterable[int],
    mask_token_id: int | None = None,
) -> None:
    """Two greedy continuations of `prompt` (stop tokens cut off) are equal, or first differ at a near tie."""
    if list(mine) == list(theirs):
        return
    k = next((i for i, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b), min(len(mine), len(theirs)))
    row = next_token_logits(model, [*prompt, *mine[:k]], mask_token_id)
    stops = list(stops)
    pair = (_choice(mine, k, row, stops), _choice(theirs, k, row, stops))
    assert is_near_tie(row, pair), (
        f"greedy paths differ at token {k} ({pair[0]} vs {pair[1]}) where the top-2 logit gap is "
        f"{top_two_gap(row):.3g} (a tie would be < {tie_scale(row):.3g}): {list(mine)} vs {list(theirs)}"
    )
