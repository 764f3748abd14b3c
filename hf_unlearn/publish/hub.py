"""The Hub side of publishing: the token, the repo, and one commit holding the whole export folder.

The commit is made with `create_commit`, not `upload_folder`: with hf_xet installed, `upload_folder` streams large
folders as several commits (by file count, by 100 MB of regular content, or every 5 minutes), so a slow upload of
big weights could publish a card without its model. `create_commit` uploads the files first and then makes a
single commit that lands whole or not at all; a failure leaves no partial commit and re-running completes it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hf_unlearn import __version__
from hf_unlearn.publish.errors import PublishError, redact
from hf_unlearn.publish.export import verify_export

logger = logging.getLogger(__name__)

#: Files every new Hub repo starts with; a repo holding only these is still "empty".
INITIAL_FILES = {".gitattributes"}


def resolve_token(token: str | None = None) -> str | None:
    """An explicit token, else HF_TOKEN, else the stored login (`hf auth login`)."""
    if token:
        return token
    from huggingface_hub import get_token

    try:
        return get_token()
    except Exception as err:  # e.g. a failing OIDC exchange; report without details that might hold secrets
        raise PublishError(f"could not read the Hub token ({type(err).__name__}); set HF_TOKEN") from None


def make_api(endpoint: str | None, token: str | None):
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint or None, token=token, library_name="hf-unlearn", library_version=__version__)


def _status(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


def describe_error(err: BaseException, repo_id: str, endpoint: str, token: str | None) -> str:
    """One actionable line for a failed Hub call, with the token (and anything token-shaped) masked."""
    from huggingface_hub.errors import OfflineModeIsEnabled

    status = _status(err)
    if isinstance(err, OfflineModeIsEnabled):
        return "offline mode is on (HF_HUB_OFFLINE=1): unset it to publish, or use --dry-run to only write the export"
    if status in (401, 403):
        how = "the token was refused" if token else "no token was found"
        return (
            f"the Hub at {endpoint} answered {status} for {repo_id}: {how}; set HF_TOKEN to a token with write "
            "access to this namespace, or run `hf auth login`"
        )
    first_line = redact(str(err), [token]).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if status is None:
        return f"could not reach the Hub at {endpoint} ({type(err).__name__}: {first_line})"
    return f"the Hub at {endpoint} answered {status} for {repo_id}: {first_line}"


def _existing_files(api, repo_id: str) -> set[str]:
    return set(api.list_repo_files(repo_id)) - INITIAL_FILES


def commit_operations(folder: Path, files: list[str], present: set[str]) -> list:
    """Add every export file; delete remote files the export no longer has, so the repo mirrors the export."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    adds = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=str(folder / f)) for f in files]
    return adds + [CommitOperationDelete(path_in_repo=f) for f in sorted(present - set(files))]


def push_export(
    folder: str | Path,
    repo_id: str,
    *,
    api,
    token: str | None,
    private: bool = False,
    overwrite: bool = False,
    commit_message: str | None = None,
    check_tensors: bool = True,
):
    """Create `repo_id` if needed and upload `folder` as a single commit; returns the `CommitInfo`.

    An existing repo that already holds files is only updated with `overwrite`; the same commit then deletes the
    files the export no longer has, so the repo mirrors the export exactly.
    """
    from huggingface_hub.errors import HfHubHTTPError

    folder = Path(folder)
    files = verify_export(folder, secrets=(token,), check_tensors=check_tensors)
    endpoint = api.endpoint
    try:
        try:
            api.create_repo(repo_id, private=private, exist_ok=False)
            existed = False
        except HfHubHTTPError as err:
            if _status(err) != 409:
                raise
            existed = True
        present = _existing_files(api, repo_id) if existed else set()
        if present and not overwrite:
            raise PublishError(
                f"{repo_id} already exists on the Hub with {len(present)} file(s); pass --overwrite (or set "
                "exist_ok: true in the recipe) to replace its contents"
            )
        return api.create_commit(
            repo_id,
            commit_operations(folder, files, present),
            commit_message=commit_message or f"Upload {repo_id.split('/')[-1]} (hf-unlearn {__version__})",
            commit_description="BF16 weights, tokenizer, model card, recipe and evaluation results.",
        )
    except PublishError:
        raise
    except Exception as err:
        message = describe_error(err, repo_id, endpoint, token)
        if _status(err) not in (401, 403, None):
            message += "; nothing was committed, re-run the same publish command to complete it"
        logger.debug("publish to %s failed: %s", repo_id, message)
        raise PublishError(message) from None
