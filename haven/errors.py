"""One hierarchy of typed errors.

Every layer raises these. Each class says its HTTP status (``status``) and
what a JSON answer holds (:meth:`HavenError.to_dict`); the HTTP layer answers
them in one place (:func:`haven.api.errors.haven_error_handler`) and the CLI
prints them and exits non-zero.
"""

from __future__ import annotations


class HavenError(Exception):
    """Base of every error Haven reports to a user."""

    code: str = "error"
    status: int = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict:
        """The error as an API answer's ``error`` object (subclasses add their own keys)."""
        return {"code": self.code, "message": self.message, "field": self.field}


class InvalidInput(HavenError):
    """A value a user sent is malformed or out of range."""

    code = "invalid"
    status = 400


class NotFound(HavenError):
    """The named record does not exist."""

    code = "not_found"
    status = 404


class Conflict(HavenError):
    """The write clashes with stored state (duplicate name, stale version)."""

    code = "conflict"
    status = 409


class StaleVersion(Conflict):
    """An update named a version that is no longer current."""

    code = "stale_version"

    def __init__(self, message: str, *, current_version: int | None = None) -> None:
        super().__init__(message, field="version")
        self.current_version = current_version

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["current_version"] = self.current_version
        return d


class ImportFailed(HavenError):
    """An import file has problems; nothing was written."""

    code = "import_failed"
    status = 400

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["problems"] = self.problems
        return d


class StoreUnavailable(HavenError):
    """The database cannot be opened or is not at the expected schema."""

    code = "store_unavailable"
    status = 503


class StoreReadOnly(HavenError):
    """A write through a store opened read-only (``haven stats``, ``export``, ``map`` and ``backup`` open it so)."""

    code = "read_only"
    status = 403


class JobVanished(StoreUnavailable):
    """A bulk load's job row is gone: the database file was replaced while the load ran."""
