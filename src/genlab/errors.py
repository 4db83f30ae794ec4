"""User-facing errors.

Anything a user can cause (a bad name, path, file or value) raises a ``GenlabError``
subclass whose message says what was wrong and what is valid. The CLI prints it as one
line and exits with code 2; tracebacks are reserved for bugs.
"""

from __future__ import annotations

from collections.abc import Iterable


class GenlabError(Exception):
    """Base class of every error a user can cause."""

    exit_code = 2


class UnknownNameError(GenlabError, KeyError):
    """A name (model, dataset, metric, option) that is not registered."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]):
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid: {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class BadInputError(GenlabError, ValueError):
    """A value, file or folder that cannot be used."""


class BadRunError(GenlabError):
    """A run folder that is missing, incomplete, damaged or not a genlab run."""


def unknown(kind: str, name: str, valid: Iterable[str]) -> UnknownNameError:
    return UnknownNameError(kind, name, valid)
