"""The one exception root of Medrical and its per-domain subclasses.

Only the CLI turns these into messages and exit codes; library code raises them with enough
context (which service, which setting, what to do) for that message to stand on its own.
"""

from __future__ import annotations

import os


class ExitCode:
    """Process exit codes, following sysexits(3) where one fits."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    UNAVAILABLE = 69  # EX_UNAVAILABLE: a service could not be reached
    CONFIG = 78  # EX_CONFIG: bad configuration
    INTERRUPTED = 130


class MedricalError(Exception):
    """Root of every error Medrical raises on purpose."""

    exit_code: int = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} {self.hint}"
        return self.message


class ConfigError(MedricalError):
    """A setting is missing, malformed or contradicts another one."""

    exit_code = ExitCode.CONFIG

    def __init__(self, message: str, *, setting: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.setting = setting


class InputError(MedricalError):
    """Bad input given by the user (an argument, a file's content)."""

    exit_code = ExitCode.USAGE


class ServiceUnavailableError(MedricalError):
    """A service (Kafka, the registry, Connect, PostgreSQL) could not be reached or refused us."""

    exit_code = ExitCode.UNAVAILABLE

    def __init__(self, service: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{service}: {message}", hint=hint)
        self.service = service


class StackError(MedricalError):
    """The local stack could not be fetched, started, or stopped."""

    def __init__(
        self, message: str, *, hint: str | None = None, log_tail: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.log_tail = log_tail

    def __str__(self) -> str:
        text = super().__str__()
        if self.log_tail:
            text += os.linesep + "Last lines of its log:" + os.linesep + self.log_tail
        return text


class CheckFailedError(MedricalError):
    """A live check (`medrical test ...`) ran and found the system wrong."""
