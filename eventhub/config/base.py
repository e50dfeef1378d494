"""The base every configuration model derives from: frozen, strict about unknown keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

PATTERN_MEANINGS: dict[str, str] = {}
"""What each regular expression used as a field ``pattern`` means, in words: error
messages and the generated reference say this instead of showing the regex."""


def pattern(regex: str, meaning: str) -> str:
    """Register ``regex`` with its meaning in words (``must be ...``) and return it."""
    PATTERN_MEANINGS[regex] = meaning
    return regex


class ValueErrorAt(ValueError):
    """A validator's error that belongs to a key below the validated value.

    Model validators see the whole model, so pydantic reports their errors at the model's
    path; raising this names the key (``at``, relative to the model) whose line is shown.
    """

    def __init__(self, message: str, at: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.at = at


class Model(BaseModel):
    """Frozen, rejects unknown keys, keeps field docs for the generated reference."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_alias=True,
        validate_by_name=True,
        use_attribute_docstrings=False,
    )
