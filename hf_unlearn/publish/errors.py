"""Publishing errors, and the redaction that keeps credentials out of every message we raise or log."""

from __future__ import annotations

import re
from collections.abc import Iterable

from hf_unlearn.errors import UserError

_HF_TOKEN = re.compile(r"hf_[A-Za-z0-9]{8,}")
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)


class PublishError(UserError, RuntimeError):
    """A run that can't (or must not) be published, or a Hub that refused it; the message says what to do."""


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with the given secrets, anything shaped like a Hub token and bearer credentials masked.

    Servers and proxies sometimes echo the credential they rejected; an error we re-raise must not carry it on.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _BEARER.sub(r"\1***", text)
    return _HF_TOKEN.sub("hf_***", text)
