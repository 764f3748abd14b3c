"""The attacks the suite knows, by name. Each is `fn(ctx: AttackContext) -> AttackRecord`; one that also teaches
(and so needs the retain model as its control) has `fn.needs_control = True`; `fn.check_options(options)`, when
present, checks the attack's options before any model loads; `fn.notes(extra)`, when present, gives the lines the
printed table adds about the attack's `extra` results (quantize: the NF4 code change; logit_lens: the erasure
score)."""

from __future__ import annotations

from hf_unlearn.errors import UserError
from hf_unlearn.robustness import quantize, relearn
from hf_unlearn.robustness.context import Attack
from hf_unlearn.robustness.probes import PROBES

ATTACKS: dict[str, Attack] = {"relearn": relearn.attack, "quantize": quantize.attack, **PROBES}


def needs_control(attack: Attack) -> bool:
    return bool(getattr(attack, "needs_control", False))


def parse_attacks(names: str | list[str], key: str = "--attacks") -> list[str]:
    """Attack names (comma-separated or a list), checked against the registry before any model loads."""
    items = names if isinstance(names, list) else [n.strip() for n in str(names).split(",")]
    chosen = [n for n in items if n]
    if not chosen:
        raise UserError(f"{key}: name at least one attack; allowed: {', '.join(ATTACKS)}")
    for name in chosen:
        if name not in ATTACKS:
            raise UserError(f"{key}: unknown attack '{name}'; allowed: {', '.join(ATTACKS)}")
    return list(dict.fromkeys(chosen))
