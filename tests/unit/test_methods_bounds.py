"""The method registry's bounds and the trainer config classes agree.

Both check hyper-parameters: a value the recipe accepts must build the trainer config (or the run would fail after
the data loaded), and a value outside the registry's bounds must be refused when the recipe loads. Iterating every
method and parameter keeps a new method or bound from drifting apart.
"""

import pytest

from hf_unlearn.methods import METHODS
from hf_unlearn.pipeline import build_training_args
from hf_unlearn.recipe import Recipe, RecipeError

#: Values a method needs with no default (PDU's retain-loss bound).
REQUIRED = {"PDU": {"retain_loss_eps": 1.0}}


def recipe_for(method: str, tmp_path, **params) -> Recipe:
    base = {"model": "tiny", "method": method, "forget_split": "forget01", "bf16": False}
    return Recipe.from_dict({**base, "output_dir": str(tmp_path), **REQUIRED.get(method, {}), **params})


def bound_cases() -> list[tuple[str, str, object, object]]:
    """(method, param, a value at the bound, a value just outside it or None) for every bounded parameter."""
    cases = []
    for name, spec in METHODS.items():
        for key, param in spec.params.items():
            if param.choices:
                cases += [(name, key, choice, "not-a-choice") for choice in param.choices]
            if param.minimum is None:
                continue
            step = 1 if param.kind is int else 0.5
            if param.exclusive_minimum:
                at, outside = param.minimum + (1 if param.kind is int else 1e-6), param.minimum
            else:
                at, outside = param.minimum, param.minimum - step
            cases.append((name, key, at, outside))
    return cases


CASES = bound_cases()


def test_every_method_has_bounded_parameters_checked():
    assert {case[0] for case in CASES} == {name for name, spec in METHODS.items() if spec.params}
    assert ("WGA", "beta", 0.0, -0.5) in CASES


@pytest.mark.parametrize("method", sorted(METHODS))
def test_defaults_build_the_trainer_config(method, tmp_path):
    recipe = recipe_for(method, tmp_path)
    config = build_training_args(recipe, n_train=8)
    for key, value in recipe.method_params.items():
        assert getattr(config, key) == value


@pytest.mark.parametrize(("method", "key", "at", "outside"), CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_values_at_the_bound_build_and_beyond_it_are_refused(method, key, at, outside, tmp_path):
    config = build_training_args(recipe_for(method, tmp_path, **{key: at}), n_train=8)
    assert getattr(config, key) == at
    with pytest.raises(RecipeError, match=f"^{key}: "):
        recipe_for(method, tmp_path, **{key: outside})
