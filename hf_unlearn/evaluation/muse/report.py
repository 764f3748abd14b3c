"""What a MUSE evaluation prints: TOFU's table (same columns, absences with their reasons) under MUSE's title."""

from __future__ import annotations

from hf_unlearn.evaluation.muse.settings import MuseEvalSettings


def title(model: str, settings: MuseEvalSettings, sets: dict[str, list[dict]], reused: bool) -> str:
    sizes = ", ".join(f"{name} {len(rows)}" for name, rows in sets.items() if not name.endswith("_icl"))
    corpus = settings.corpus.capitalize()
    return f"MUSE evaluation of {model} on {corpus} ({sizes}){' [reused stored results]' if reused else ''}"
