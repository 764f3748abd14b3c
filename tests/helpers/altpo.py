"""A hand-written AltPO alternates file (no generation): deterministic on every machine."""

from pathlib import Path

from hf_unlearn.data.altpo import write_alternates
from hf_unlearn.data.tofu import load_split


def handmade_alternates(path: Path, forget_split: str = "forget01", n_questions: int = 8, samples: int = 2) -> Path:
    rows = [
        {
            "question": r["question"],
            "answer": r["answer"],
            "alternate": f"A made-up answer, number {k}, to: {r['question']}",
        }
        for r in load_split(forget_split, "bundled")[:n_questions]
        for k in range(samples)
    ]
    write_alternates(path, {"handmade": True}, rows)
    return path
