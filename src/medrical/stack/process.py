"""Starting and stopping the stack's own processes, tracked by PID files.

A PID file holds the PID and the process's start time (from /proc), so a PID that the kernel
has since given to another program is never signalled. Processes are stopped by their own PID
(each leads its own session and process group), never by name.

A spawned process is nobody's child: it outlives the command that started it (`stack up`
returns, `demo` ends) and may be stopped by another one (`stack down`, `stack chaos`). Were it
the child of whichever process started it (a test run, a chaos loop), that process would have to
notice every death to reap it, and would hold a `Popen` that warns at exit for each one it did
not. So a short-lived shell starts it in the background and exits at once; the PID file is all
there is to follow it by.
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

# The shell prints the background command's PID; `setsid` (which execs in place, since the
# background command leads no process group) gives it a session and process group of its own.
_DETACH = 'setsid "$@" >&2 & echo $!'
_LAUNCH_TIMEOUT_S = 30.0


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
    return tracked if tracked.alive() else None


def spawn(
    command: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> TrackedProcess:
    """Start `command` detached, its output appended to `log_file`, and record it in
    `pid_file`; return at once (whether it starts well is for its probe to tell)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    # The shell is waited on at once: it ends as soon as its background command is forked.
    with (
        log_file.open("ab") as log,
        subprocess.Popen(
            ["/bin/sh", "-c", _DETACH, "sh", *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            user=user,
        ) as launcher,
    ):
        printed, _ = launcher.communicate(timeout=_LAUNCH_TIMEOUT_S)
    pid = int(printed.split()[0])
    # Until `setsid` has run, the process still shares the shell's session and its group cannot
    # be signalled by its PID: return only once it leads its own (or has already ended).
    poll(lambda: _leads_its_session(pid), timeout_s=_LAUNCH_TIMEOUT_S, interval_s=0.005)
    # "0" when it has already ended: such a record is never alive.
    tracked = TrackedProcess(pid, _start_time(pid) or "0")
    pid_file.write_text(f"{tracked.pid} {tracked.started}\n", encoding="ascii")
    return tracked


def _leads_its_session(pid: int) -> bool:
    if _is_zombie(pid):
        return True
    try:
        return os.getsid(pid) == pid
    except ProcessLookupError:
        return True


def stop(pid_file: Path, *, timeout_s: float = 30.0) -> bool:
    """Stop the process of a PID file (TERM, then KILL after the timeout); True if it ran."""
    tracked = running(pid_file)
    if tracked is None:
        pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(tracked.pid, signal.SIGTERM)

    poll(lambda: not tracked.alive(), timeout_s=timeout_s, interval_s=0.2)
    if tracked.alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(tracked.pid, signal.SIGKILL)
        while tracked.alive():
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)
    return True


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
