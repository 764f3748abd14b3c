"""Errors a user can act on. The CLI prints them as one line (no traceback) and exits with status 2."""

from hf_unlearn.recipe import RecipeError

USER_ERRORS: tuple[type[BaseException], ...] = (RecipeError,)


def first_line(err: BaseException) -> str:
    """An exception's message cut to one line for a one-line error (its type name when the message is empty)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def register_user_error(cls: type[BaseException]) -> type[BaseException]:
    """Mark an exception type as a user-facing error."""
    global USER_ERRORS
    USER_ERRORS = USER_ERRORS + (cls,)
    return cls
