"""Checkpoint selection rules on hand-made trajectories, and the recipe keys' validation (before any model loads)."""

import pytest

from hf_unlearn.recipe import Recipe, RecipeError
from hf_unlearn.selection import Point, describe, select, start_utility, trajectory

LOG = [
    {"step": 0, "epoch": 0, "eval_forget_quality": 1e-5, "eval_model_utility": 0.60},
    {"step": 1, "epoch": 0.5, "loss": 2.0},
    {"step": 2, "epoch": 1.0, "eval_forget_quality": 1e-3, "eval_model_utility": 0.58},
    {"step": 4, "epoch": 2.0, "eval_forget_quality": 0.2, "eval_model_utility": 0.50},
    {"step": 6, "epoch": 3.0, "eval_forget_quality": 0.9, "eval_model_utility": 0.10},
    {"step": 8, "epoch": 4.0, "eval_forget_quality": 0.2, "eval_model_utility": 0.05},
]


def points():
    return trajectory(LOG)


def test_trajectory_reads_the_logged_evaluations_only():
    assert [p.step for p in points()] == [0, 2, 4, 6, 8]
    assert points()[1].metrics == {"forget_quality": 1e-3, "model_utility": 0.58}
    assert start_utility(points()) == 0.60


def test_max_forget_quality_respects_the_utility_bound():
    assert select(points(), "max_forget_quality").point.step == 6
    chosen = select(points(), "max_forget_quality", min_utility=0.4)
    assert chosen.point.step == 4 and "model utility >= 0.4" in chosen.reason
    none = select(points(), "max_forget_quality", min_utility=0.9)
    assert none.point.step == 2 and "no evaluation kept" in none.reason  # falls back to the highest utility


def test_ties_go_to_the_earliest_point():
    tied = [
        Point(2, 1.0, {"forget_quality": 0.5, "model_utility": 0.5}),
        Point(4, 2.0, dict(forget_quality=0.5, model_utility=0.5)),
    ]
    assert select(tied, "max_forget_quality").point.step == 2


def test_utility_ratio_is_relative_to_the_starting_model():
    # bound 0.8 x 0.60 = 0.48: step 4 (0.50) is the last allowed, with the best forget quality among 2 and 4
    assert select(points(), "utility_ratio", min_utility_ratio=0.8, start_utility=0.60).point.step == 4
    with pytest.raises(ValueError, match="step 0"):
        select(points(), "utility_ratio")


def test_pareto_knee_is_on_the_front_and_nearest_the_ideal():
    # front: step 2 (fq 1e-3, mu .58), 4 (.2, .50), 6 (.9, .10); step 8 is dominated by 4.
    # scaled log10 fq: 2 -> 0, 4 -> (log .2 + 3)/(log .9 + 3) ~ 0.78, 6 -> 1; mu: 2 -> 1, 4 -> .83, 6 -> 0
    chosen = select(points(), "pareto_knee")
    assert chosen.point.step == 4 and "3 of 4 evaluations on the front" in chosen.reason


def test_describe_says_where_and_why():
    assert describe(points()[2], 8, 4.0, "x") == "selected at epoch 2 of 4 because: x"
    assert describe(Point(3, 1.5, {}), 8, None, "y") == "selected at step 3 of 8 because: y"


BASE = {"model": "tiny", "method": "GradDiff"}


def test_recipe_reads_nested_sections():
    recipe = Recipe.from_dict(
        {**BASE, "eval": {"during_training": {"every": 2, "limit": 4}}, "select_checkpoint": {"rule": "pareto_knee"}}
    )
    assert recipe["eval.during_training.every"] == "2" and recipe["eval.during_training.limit"] == 4
    assert recipe["select_checkpoint.keep"] == "best"
    assert recipe.to_yaml_dict()["select_checkpoint"]["rule"] == "pareto_knee"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"eval": {"during_training": {"every": "often"}}}, "eval.during_training.every: 'often' is not allowed"),
        ({"eval": {"during_training": {"every": 0}}}, "eval.during_training.every: '0' is not allowed"),
        ({"eval": {"during_training": {"every": "epoch", "metrics": ["nope"]}}}, "eval.during_training.metrics"),
        ({"eval": {"during_training": {"every": "epoch", "metrics": ["mia_gradnorm"]}}}, "cannot run during"),
        ({"select_checkpoint": {"rule": "best"}}, "select_checkpoint.rule: 'best' is not allowed; allowed:"),
        ({"select_checkpoint": {"rule": "pareto_knee"}}, "select_checkpoint.rule: needs eval.during_training.every"),
        (
            {
                "select_checkpoint": {"stop_below": 0.1},
                "eval": {"during_training": {"every": 1, "metrics": ["forget_quality"]}},
            },
            "select_checkpoint.stop_below: needs eval.during_training.metrics to include model_utility",
        ),
        (
            {
                "select_checkpoint": {"rule": "pareto_knee"},
                "eval": {"during_training": {"every": 1}},
                "save_total_limit": 2,
            },
            "save_total_limit:",
        ),
        ({"select_checkpoint": {"kep": "last"}}, "select_checkpoint.kep: unknown recipe key (did you mean"),
    ],
)
def test_bad_settings_fail_in_one_line_naming_the_key(raw, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(")) as err:
        Recipe.from_dict({**BASE, **raw})
    assert "\n" not in str(err.value)
