"""Run folder -> export folder -> Hub: the one entry point used by `hf-unlearn publish` and the end of a recipe run."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from hf_unlearn.layout import HUB_RECORD
from hf_unlearn.models import check_model_folder
from hf_unlearn.publish.errors import PublishError
from hf_unlearn.publish.export import ExportResult, build_export, check_weights
from hf_unlearn.publish.hub import make_api, push_export, resolve_token
from hf_unlearn.publish.run_folder import load_run

logger = logging.getLogger(__name__)

#: Org shown in a dry run's card when the recipe names none (a placeholder, never pushed).
PLACEHOLDER_ORG = "your-org"


@dataclass
class PublishResult:
    export: ExportResult
    repo_id: str
    pushed: bool
    commit_url: str | None = None

    @property
    def export_dir(self) -> Path:
        return self.export.path


def target_repo_id(recipe, repo_id: str | None, org: str | None, dry_run: bool) -> str:
    """--repo-id, else the recipe's hub_repo_id, else {org}/<name from the run> (org: --org or hub_org)."""
    chosen = repo_id or recipe.get("hub_repo_id")
    if chosen:
        if chosen.count("/") != 1 or not all(chosen.split("/")):
            raise PublishError(f"repo id '{chosen}' is not of the form ORG/NAME")
        return chosen
    org = org or recipe.get("hub_org")
    if not org:
        if dry_run:
            return recipe.repo_id(PLACEHOLDER_ORG)
        raise PublishError(
            "no repo to publish to: pass --repo-id ORG/NAME, or set hub_org (or hub_repo_id) in the recipe"
        )
    return recipe.repo_id(org)


def publish_run(
    run_dir: str | Path,
    *,
    repo_id: str | None = None,
    org: str | None = None,
    private: bool | None = None,
    overwrite: bool | None = None,
    dry_run: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
    export_dir: str | Path | None = None,
) -> PublishResult:
    """Check the run, write its export folder and (unless `dry_run`) push it to the Hub in one commit.

    Settings left None come from the run's recipe (hub_repo_id / hub_org, hub_private, exist_ok).
    """
    from huggingface_hub import constants

    run = load_run(run_dir)
    recipe = run.recipe
    target = target_repo_id(recipe, repo_id, org, dry_run)
    check_model_folder(run.path, "run folder")
    check_weights(run.path)
    token = None if dry_run else resolve_token(token)
    offline = bool(constants.HF_HUB_OFFLINE)
    api = None if offline else make_api(endpoint, token)
    export = build_export(run, target, export_dir, api=api)
    if dry_run:
        return PublishResult(export, target, pushed=False)
    if offline:
        raise PublishError(
            f"offline mode is on (HF_HUB_OFFLINE=1): the export is ready in {export.path}, but publishing needs the "
            "Hub; unset HF_HUB_OFFLINE and re-run"
        )
    private = recipe.get("hub_private", False) if private is None else private
    overwrite = recipe.get("exist_ok", False) if overwrite is None else overwrite
    info = push_export(
        export.path, target, api=api, token=token, private=private, overwrite=overwrite, check_tensors=False
    )
    record = {"repo_id": target, "commit": info.oid, "commit_url": info.commit_url, "endpoint": api.endpoint}
    (run.path / HUB_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    logger.info("published %s: %s", target, info.commit_url)
    return PublishResult(export, target, pushed=True, commit_url=info.commit_url)
