"""Writing files that hold secrets: private from their first byte, atomic, never through a
symlink."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private(path: Path, content: bytes, mode: int = 0o600) -> None:
    """Write `content` to `path` so that readers see the old or the new content, never half of
    it, and nobody else can read it, not even for an instant.

    The content goes to a fresh temporary file that `mkstemp` creates 0600 with O_EXCL (so a
    symlink or file planted under a guessable name is never written through), then replaces
    `path`: a symlink at `path` is replaced, not followed.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if mode != 0o600:
                os.fchmod(handle.fileno(), mode)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_text(path: Path, *, what: str, hint: str) -> str:
    """A UTF-8 file's text, or a ConfigError naming `what` could not be read and why."""
    from medrical.errors import ConfigError

    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read {what} {path}: {reason}.", hint=hint) from None


def is_exposed(path: Path) -> bool:
    """Whether other users may read or write the file (False when it cannot be looked at)."""
    import stat

    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False
