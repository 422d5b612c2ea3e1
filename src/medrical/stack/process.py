"""Starting and stopping the stack's own processes, tracked by PID files.

A PID file holds the PID and the process's start time (from /proc), so a PID that the kernel
has since given to another program is never signalled. Processes are stopped by their own PID
(each leads its own session and process group), never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from medrical.waiting import poll

# Children started by this process, kept so that stopping one also reaps it (no zombie, and no
# "subprocess still running" warning when a Popen object is collected while its daemon runs).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    # Field 22 (starttime); the command name in field 2 may hold spaces, so split after ')'.
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass(frozen=True)
class TrackedProcess:
    pid: int
    started: str

    def alive(self) -> bool:
        return _start_time(self.pid) == self.started and not _is_zombie(self.pid)

    def resident_mib(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


def state(pid: int) -> str | None:
    """The process's state letter from /proc (R, S, T when stopped, Z...); None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _is_zombie(pid: int) -> bool:
    return state(pid) in (None, "Z")


def read_pid_file(path: Path) -> TrackedProcess | None:
    try:
        pid_text, started = path.read_text(encoding="ascii").split()
        return TrackedProcess(int(pid_text), started)
    except (OSError, ValueError):
        return None


def running(path: Path) -> TrackedProcess | None:
    """The process recorded in the PID file, if it is still the one we started."""
    tracked = read_pid_file(path)
    if tracked is None:
        return None
    if tracked.alive():
        return tracked
    _reap(tracked.pid)  # ended (perhaps stopped by another process): collect it if ours
    return None


def spawn(
    command: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            user=user,
        )
    _children[process.pid] = process
    started = _start_time(process.pid) or "0"
    pid_file.write_text(f"{process.pid} {started}\n", encoding="ascii")
    return process


def stop(pid_file: Path, *, timeout_s: float = 30.0) -> bool:
    """Stop the process of a PID file (TERM, then KILL after the timeout); True if it ran."""
    tracked = running(pid_file)
    if tracked is None:
        pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(tracked.pid, signal.SIGTERM)

    def ended() -> bool:
        _reap(tracked.pid)
        return not tracked.alive()

    poll(ended, timeout_s=timeout_s, interval_s=0.2)
    if tracked.alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(tracked.pid, signal.SIGKILL)
        while tracked.alive():
            time.sleep(0.1)
            _reap(tracked.pid)
    _reap(tracked.pid)
    pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when the stopped process is our own child."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]


def tail(path: Path, lines: int = 20) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
