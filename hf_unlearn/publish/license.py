"""The licence an unlearned (or finetuned) model inherits from the model it was made from.

Looked up, in order: the base model's Hub card (when online), a local base folder's README or its own run's base,
then well-known model families by name. Never fails: with nothing found it answers "other" with a note.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from hf_unlearn.layout import RUN_INFO
from hf_unlearn.publish.hub_record import published_repo_id

logger = logging.getLogger(__name__)

#: Model families whose licence is known from the name alone (Meta's community licences are named per release).
FAMILY_LICENSES = (
    (re.compile(r"llama-?3\.2", re.I), "llama3.2"),
    (re.compile(r"llama-?3\.1", re.I), "llama3.1"),
    (re.compile(r"llama-?3\.3", re.I), "llama3.3"),
    (re.compile(r"llama-?3(?![.\d])", re.I), "llama3"),
    (re.compile(r"llama-?2", re.I), "llama2"),
)
_MAX_DEPTH = 4


@dataclass(frozen=True)
class LicenseInfo:
    license: str
    source: str  # where it came from, for the card
    note: str = ""


def _frontmatter(text: str) -> dict:
    import yaml

    match = re.match(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", text, re.S)
    if not match:
        return {}
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _clean(value) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def from_hub(repo_id: str, api) -> str | None:
    """The licence in a Hub repo's card metadata; None when offline, unreachable, gated or absent."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or api is None:
        return None
    try:
        card_data = api.model_info(repo_id, timeout=10).card_data
        found = _clean(getattr(card_data, "license", None)) if card_data is not None else None
        if found:
            return found
        readme = api.hf_hub_download(repo_id, "README.md")
        return _clean(_frontmatter(Path(readme).read_text(encoding="utf-8")).get("license"))
    except Exception as err:  # network errors come in many types; a licence lookup must never stop a publish
        logger.info("licence of %s not found on the Hub: %s", repo_id, type(err).__name__)
        return None


def from_local(folder: Path) -> str | None:
    readme = folder / "README.md"
    if readme.is_file():
        return _clean(_frontmatter(readme.read_text(encoding="utf-8")).get("license"))
    return None


def from_name(name: str) -> str | None:
    for pattern, license_id in FAMILY_LICENSES:
        if pattern.search(name):
            return license_id
    return None


def _lineage(model: str) -> list[str]:
    """The model and the models it came from, as far as local run folders record it (hub.json, run_info.json)."""
    chain, current = [], model
    while current and current not in chain and len(chain) < _MAX_DEPTH:
        chain.append(current)
        folder = Path(current).expanduser()
        if not folder.is_dir():
            break
        info = folder / RUN_INFO
        repo_id = published_repo_id(folder)
        if repo_id is not None:
            chain.append(repo_id)
        current = json.loads(info.read_text()).get("base_model") if info.is_file() else None
    return [c for c in chain if c]


def resolve_license(models: list[str], api=None) -> LicenseInfo:
    """The licence of the first of `models` (base model, then tokenizer source) that declares one."""
    names = [name for model in models if model for name in _lineage(model)]
    for name in names:
        folder = Path(name).expanduser()
        found = from_local(folder) if folder.is_dir() else from_hub(name, api) if name.count("/") == 1 else None
        if found:
            return LicenseInfo(found, f"the card of {name}")
    for name in names:
        found = from_name(name)
        if found:
            return LicenseInfo(found, f"the model family of {name}")
    return LicenseInfo(
        "other",
        "not found",
        "The base model's licence could not be determined when this card was written; check the base model's "
        "terms before use.",
    )
