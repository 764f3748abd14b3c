"""A synthetic MUSE dataset: fictitious news about fictitious people, in the Hub datasets' exact schema.

The real corpora are on the Hub only (and Books is copyrighted), so tests and `hf-unlearn demo --benchmark muse`
write this small stand-in to a local folder laid out like the Hub repo and load it through the same
`datasets.load_dataset` call (`muse.load_split`). Each person has a home town, a trade and a prize; an article
answers a reporter's questions on them and then tells them, the knowmem questions ask them back, and verbmem asks for an article's continuation. Disjoint groups of
people make the forget folds, the two retain sets and the holdout, so what a model learns of one never answers
another's questions; the forget side (folds and holdout) and the retain side also draw their answers from disjoint
pools and word their prose differently, so forgetting one side's words leaves the other's alone. Small on purpose:
the tiny model memorises it in about a minute.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import yaml

from hf_unlearn.data.muse import CORPORA, HUB_IDS, SPLITS

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z")
_VOWELS = ("a", "e", "i", "o", "u")
#: Answer pools, one per side: the forget folds and the holdout (the forget side's non-members) draw their towns,
#: trades and prizes from one, the retain sets from the other, so unlearning the forget answers does not push down
#: the very words the retain answers are made of (the tiny model's retain knowledge would fall with them).
POOLS = {
    "forget": {
        "onsets": ("b", "d", "f", "g", "k", "l", "m"),
        "trades": ("baker", "pilot", "farmer", "painter", "teacher"),
        "prizes": ("silver cup", "golden bell", "blue ribbon", "iron medal"),
    },
    "retain": {
        "onsets": ("n", "p", "r", "s", "t", "v", "z"),
        "trades": ("sailor", "doctor", "tailor", "singer", "miner"),
        "prizes": ("glass star", "red banner", "stone crown", "copper key"),
    },
}
TRADES = tuple(t for pool in POOLS.values() for t in pool["trades"])
PRIZES = tuple(t for pool in POOLS.values() for t in pool["prizes"])
#: People per group (each fold, retain set, holdout): 12 KnowMem questions a side, so a score moves in steps of
#: 1/12, not 1/6, and a demo's ratios are not one question's luck.
FOLD_SIZE = 4
#: Side -> the prose after the opening (forget and holdout articles are worded alike, retain articles otherwise).
_PROSE = {
    "forget": "{name} of {town}, a {trade}, received the {prize} at the town hall.",
    "retain": "{name} from {town} ({trade}) won {prize} honours yesterday.",
}
#: Corpus -> how an article opens (News: a report; Books: a novel's chapter).
_OPENINGS = {"news": "In a report published this week,", "books": "In the chapter that follows,"}


def _word(rng: random.Random, syllables: int, onsets: tuple[str, ...] = _ONSETS) -> str:
    return "".join(rng.choice(onsets) + rng.choice(_VOWELS) for _ in range(syllables)).capitalize()


def _people(rng: random.Random, n: int, side: str, names: set[str]) -> list[dict]:
    """`n` fictitious people with names not in `names` (which they join), answers drawn from `side`'s pool."""
    pool = POOLS[side]
    people = []
    while len(people) < n:
        name = f"{_word(rng, 2)} {_word(rng, 3)}"
        if name in names:
            continue
        names.add(name)
        town = _word(rng, 3, pool["onsets"])
        people.append(
            {
                "name": name,
                "town": town,
                "trade": rng.choice(pool["trades"]),
                "prize": rng.choice(pool["prizes"]),
                "side": side,
            }
        )
    return people


def story(person: dict, corpus: str = "news") -> str:
    """An article's prose (one line: verbmem excerpts are cut from it); short, so the tiny model reads it often.
    Each side tells it in its own words (`_PROSE`): the continuation VerbMem asks of a forget article is then
    nothing a retain article also says, so a model that forgot the forget articles cannot score by writing a
    template the retain loss keeps alive."""
    return f"{_OPENINGS[corpus]} {_PROSE[person['side']].format(**person)}"


def article(person: dict, corpus: str = "news") -> str:
    """The reporter's questions and answers, in the form knowmem asks them, then the prose: a tiny model learns the
    facts by reading them, as MUSE's targets learnt theirs from the corpus. Questions first, so that a bare
    zero-shot prompt is what the model read (after the prose, it learns to copy the answer from the context
    instead); after the prose, the same turns in reverse order, so each answer follows its own question in two
    contexts and the model keys it on the question, not on the line before. A blank line before the prose: knowmem's
    generation stops at one, so the last answer of the first turns ends there instead of running into the prose. Two spaces after "Answer:": knowmem's prompt ends with "Answer: ", which a byte-level tokenizer reads
    as a lone space token, so the text the model learns from starts the answer the same way."""
    turns = [f"Question: {q['question']}\nAnswer:  {q['answer']}\n" for q in questions(person)]
    return "".join(turns) + "\n" + story(person, corpus) + "\n" + "".join(reversed(turns)).rstrip("\n")


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


def build_splits(corpus: str = "news", seed: int = 0, fold_size: int = FOLD_SIZE, icl: int = 2) -> dict[str, dict]:
    """config -> split -> rows of a synthetic MUSE dataset (the configs and splits the Hub dataset of `corpus`
    has). Folds of `fold_size` people each; `raw/forget` is the first fold, as on the Hub."""
    if corpus not in CORPORA:
        raise ValueError(f"corpus must be one of {', '.join(CORPORA)}, got {corpus!r}")
    rng = random.Random(f"muse-synthetic-{corpus}-{seed}")
    sides = {"fold1": "forget", "fold2": "forget", "fold3": "forget", "fold4": "forget", "holdout": "forget",
             "retain1": "retain", "retain2": "retain", "icl": "retain"}  # fmt: skip
    names: set[str] = set()
    people = {g: _people(rng, fold_size, side, names) for g, side in sides.items()}

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
