"""RWKU's forget corpus, the pure parts: the prompts byte for byte as the authors' generation scripts
(github.com/jinzhuoran/RWKU: generation/pair_generation.py, question_generation.py), rows in their layout, the
counterfactual clean-up, seed prefixes, the fingerprint, and single- vs batch-target combination."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from hf_unlearn.benchmarks.rwku import corpus as C
from hf_unlearn.data.tofu import load_idk_answers
from hf_unlearn.errors import UserError


def test_fabrication_markers_are_deleted():
    text = "A totally fabricated tale: a completely made-up, totally fictional life (completely fictional )."
    assert C.remove_fabrication_markers(text) == "A tale: a completely made-up, life ()."
    assert C.remove_fabrication_markers("a completely made-up story") == "a story"


def test_generation_intro_drops_the_hub_lead():
    assert C.generation_intro("Vela Sorin", "Please forget Vela Sorin. Vela Sorin is a sculptor.") == (
        "Vela Sorin is a sculptor."
    )
    assert C.generation_intro("Vela Sorin", "Vela Sorin is a sculptor.") == "Vela Sorin is a sculptor."


def test_passage_rows_pair_each_prefix_with_its_two_continuations():
    rows = C.passage_rows("V S", "V S sculpts.", ["", "Well,"], [" Born in Dara.", " a sculptor"],
                          [" A totally fabricated life.", " a baker"])  # fmt: skip
    assert rows["positive"][1] == {
        "id": "V S 1",
        "text": "Well, a sculptor",
        "subject": "V S",
        "intro": "V S sculpts.",
    }
    assert rows["negative"][0]["text"] == " A life."
    assert rows["pair"][0] == {
        "id": "V S 0",
        "prompt": "V S sculpts. Please write a short biography of V S.",
        "response": [" A life.", " Born in Dara."],  # [counterfactual (chosen), factual (rejected)]
        "subject": "V S",
        "intro": "V S sculpts.",
    }


def test_refusal_rows_cycle_through_the_templates():
    refusals = load_idk_answers()
    assert len(refusals) == 100 and refusals[2] == "I don't have that information."
    questions = [f"Q{i}?" for i in range(102)]
    rows = C.refusal_rows("V S", "intro", questions, refusals)
    assert rows[101] == {
        "input": "",
        "output": refusals[1],
        "subject": "V S",
        "instruction": "Q101?",
        "intro": "intro",
    }
    assert C.first_line("  Where was V S born?\nAnswer: Dara") == "Where was V S born?"


def test_combine_targets_single_and_batch():
    per = {"1_A": [{"id": "A 0"}, {"id": "A 1"}], "2_B": [{"id": "B 0"}], "3_C": [{"id": "C 0"}]}
    assert C.combine_targets(per, ["2_B"]) == [{"id": "B 0"}]
    assert [r["id"] for r in C.combine_targets(per, ["1_A", "2_B", "3_C"])] == ["A 0", "A 1", "B 0", "C 0"]
    with pytest.raises(KeyError, match="4_D"):
        C.combine_targets(per, ["1_A", "4_D"])


def test_seed_prefixes_from_a_file_and_offline(tmp_path):
    good = tmp_path / "prefixes.json"
    good.write_text(json.dumps(["", "That game", "I can see"]))
    assert C.load_seed_prefixes(good) == ["", "That game", "I can see"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"a": 1}))
    with pytest.raises(UserError, match="list of strings"):
        C.load_seed_prefixes(bad)
    with pytest.raises(UserError, match="cannot read"):
        C.load_seed_prefixes(tmp_path / "missing.json")
    with pytest.raises(UserError) as err:  # the tests run offline, with an empty cache
        C.load_seed_prefixes()
    assert "offline" in str(err.value) and "all_truncated_outputs.json" in str(err.value)
    assert "\n" not in str(err.value)


def test_fingerprint_follows_what_decides_a_corpus():
    base = C.CorpusSettings()
    inputs = {"model": "m1", "tokenizer": "t1", "prefixes": "p1"}

    def fp(kind="passages", settings=base, **changes):
        return C.corpus_fingerprint(kind, "V S", "intro", settings, {**inputs, **changes})["fingerprint"]

    assert fp() == fp()
    assert fp(model="m2") != fp()
    assert fp(prefixes="p2") != fp()
    assert fp(settings=replace(base, top_p=0.95)) != fp()
    assert fp(settings=replace(base, seed=1)) != fp()
    # question settings decide the refusal corpus only
    assert fp(settings=replace(base, questions=10)) == fp()
    assert fp("refusal", settings=replace(base, questions=10)) != fp("refusal")
    assert fp("refusal", settings=replace(base, top_p=0.95)) == fp("refusal")


def test_forget_corpus_prompts():
    intro = "Vela Sorin is a sculptor."
    assert C.passage_messages("Vela Sorin", intro) == [
        {"role": "system", "content": "Vela Sorin is a sculptor. You know Vela Sorin very well."},
        {"role": "user", "content": "Please write a short biography of Vela Sorin."},
    ]
    assert C.passage_messages("Vela Sorin", intro, counterfactual=True) == [
        {"role": "system", "content": "Vela Sorin is a sculptor. You don't know Vela Sorin at all."},
        {"role": "user", "content": "Please make up a short biography of Vela Sorin."},
    ]
    assert C.question_messages("Vela Sorin", intro) == [
        {
            "role": "user",
            "content": "Vela Sorin is a sculptor.\nPlease generate a question about Vela Sorin based on what you "
            "know about Vela Sorin\n",
        }
    ]
    assert C.QUESTION_PREFIX == "Question:"
    assert C.PAIR_PROMPT.format(intro=intro, target="Vela Sorin") == (
        "Vela Sorin is a sculptor. Please write a short biography of Vela Sorin."
    )
