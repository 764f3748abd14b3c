"""A synthetic MUSE dataset: fictitious news about fictitious people, in the Hub datasets' exact schema.

The real corpora are on the Hub only (and Books is copyrighted), so tests and `hf-unlearn demo --benchmark muse`
write this small stand-in to a local folder laid out like the Hub repo and load it through the same
`datasets.load_dataset` call (`muse.load_split`). Each person has a home town, a trade and a prize; an article
answers a reporter's questions on them and then tells them, the knowmem questions ask them back, and verbmem asks for an article's continuation. Disjoint groups of
people make the forget folds, the two retain sets and the holdout, so what a model learns of one never answers
another's questions. Small on purpose: the tiny model memorises it in seconds.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import yaml

from hf_unlearn.data.muse import CORPORA, HUB_IDS, SPLITS

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z")
_VOWELS = ("a", "e", "i", "o", "u")
TRADES = ("baker", "pilot", "farmer", "painter", "teacher", "sailor", "doctor", "tailor", "singer", "miner")
PRIZES = ("silver cup", "golden bell", "blue ribbon", "iron medal", "glass star", "red banner", "stone crown")
#: Corpus -> how an article opens (News: a report; Books: a novel's chapter).
_OPENINGS = {"news": "In a report published this week,", "books": "In the chapter that follows,"}


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)).capitalize()


def _people(rng: random.Random, n: int) -> list[dict]:
    """`n` fictitious people with distinct names and towns."""
    names: set[str] = set()
    people = []
    while len(people) < n:
        name = f"{_word(rng, 2)} {_word(rng, 3)}"
        if name in names:
            continue
        names.add(name)
        people.append({"name": name, "town": _word(rng, 3), "trade": rng.choice(TRADES), "prize": rng.choice(PRIZES)})
    return people


def story(person: dict, corpus: str = "news") -> str:
    """An article's prose (one line: verbmem excerpts are cut from it); short, so the tiny model reads it often."""
    p = person
    return (
        f"{_OPENINGS[corpus]} {p['name']} of {p['town']}, a {p['trade']}, received the {p['prize']} at the town hall."
    )


def article(person: dict, corpus: str = "news") -> str:
    """The reporter's questions and answers, in the form knowmem asks them, then the prose: a tiny model learns the
    facts by reading them, as MUSE's targets learnt theirs from the corpus. Questions first, so that a bare
    zero-shot prompt is what the model read (after the prose, it learns to copy the answer from the context
    instead); after the prose, the same turns in reverse order, so each answer follows its own question in two
    contexts and the model keys it on the question, not on the line before. Two spaces after "Answer:": knowmem's prompt ends with "Answer: ", which a byte-level tokenizer reads
    as a lone space token, so the text the model learns from starts the answer the same way."""
    turns = [f"Question: {q['question']}\nAnswer:  {q['answer']}\n" for q in questions(person)]
    return "".join(turns) + story(person, corpus) + "\n" + "".join(reversed(turns)).rstrip("\n")


def questions(person: dict) -> list[dict]:
    """Short, distinctive answers (a made-up town, a trade, a prize): ROUGE scores what the model remembers, not
    articles it guesses right."""
    p = person
    return [
        {"question": f"Where does {p['name']} live?", "answer": p["town"]},
        {"question": f"What does {p['name']} work as?", "answer": p["trade"]},
        {"question": f"What prize did {p['name']} receive?", "answer": p["prize"]},
    ]


def verbmem_row(text: str) -> dict:
    """An excerpt split into a prompt (its first half, by words) and the continuation to reproduce."""
    words = text.split()
    half = len(words) // 2
    return {"prompt": " ".join(words[:half]), "gt": " ".join(words[half:])}


def build_splits(corpus: str = "news", seed: int = 0, fold_size: int = 2, icl: int = 2) -> dict[str, dict]:
    """config -> split -> rows of a synthetic MUSE dataset (the configs and splits the Hub dataset of `corpus`
    has). Folds of `fold_size` people each; `raw/forget` is the first fold, as on the Hub."""
    if corpus not in CORPORA:
        raise ValueError(f"corpus must be one of {', '.join(CORPORA)}, got {corpus!r}")
    rng = random.Random(f"muse-synthetic-{corpus}-{seed}")
    groups = ["fold1", "fold2", "fold3", "fold4", "retain1", "retain2", "holdout", "icl"]
    everyone = _people(rng, fold_size * len(groups))
    people = {g: everyone[i * fold_size : (i + 1) * fold_size] for i, g in enumerate(groups)}

    def texts(*names: str) -> list[dict]:
        return [{"text": article(p, corpus)} for g in names for p in people[g]]

    def qa(name: str) -> list[dict]:
        return [q for p in people[name] for q in questions(p)]

    folds = ["fold1", "fold2", "fold3", "fold4"]
    icl_rows = qa("icl")
    out: dict[str, dict] = {
        "raw": {
            "forget": texts("fold1"),
            "retain1": texts("retain1"),
            "retain2": texts("retain2"),
            "holdout": texts("holdout"),
        },
        "verbmem": {"forget": [verbmem_row(story(p, corpus)) for p in people["fold1"]]},
        "knowmem": {
            "forget_qa": qa("fold1"),
            "retain_qa": qa("retain2"),
            "forget_qa_icl": icl_rows[:icl],
            "retain_qa_icl": icl_rows[icl : 2 * icl],
        },
        "privleak": {"forget": texts("fold1"), "retain": texts("retain2"), "holdout": texts("holdout")},
        "train": {"forget": texts(*folds), "retain1": texts("retain1"), "retain2": texts("retain2")},
    }
    if "scal" in SPLITS[corpus]:
        out["scal"] = {f"forget_{k}": texts(*folds[:k]) for k in range(1, 5)}
        out["sust"] = {f"forget_{k}": texts(folds[k - 1]) for k in range(1, 5)}
    return out


def write_synthetic_muse(folder: str | Path, corpus: str = "news", seed: int = 0, **sizes) -> Path:
    """Write the synthetic dataset as `<config>/<split>.jsonl` plus a README.md whose YAML header declares the
    configs, as a Hub dataset repo does, so `datasets.load_dataset(folder, name=config, split=split)` reads it."""
    folder = Path(folder)
    splits = build_splits(corpus, seed, **sizes)
    configs = []
    for config, by_split in splits.items():
        files = []
        for split, rows in by_split.items():
            path = folder / config / f"{split}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            files.append({"split": split, "path": f"{config}/{split}.jsonl"})
        configs.append({"config_name": config, "data_files": files})
    header = yaml.safe_dump({"configs": configs}, sort_keys=False)
    note = f"Synthetic stand-in for {HUB_IDS[corpus]} (fictitious people; no real text), written by hf-unlearn.\n"
    (folder / "README.md").write_text(f"---\n{header}---\n\n{note}", encoding="utf-8")
    return folder
