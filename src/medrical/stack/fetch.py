"""Fetching the stack's Java engines from Maven Central with Maven, checksums enforced.

The artifacts land in a cache folder named after a digest of the POMs, so changing a pinned
version fetches afresh and `stack reset` (which wipes data) never re-downloads anything.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from medrical.errors import StackError

log = logging.getLogger(__name__)

POMS = ("pom.xml", "converter-pom.xml")
# Medrical's own converter, built from the sources in this folder (see its pom.xml).
CONVERTER_SOURCES = "medrical-connect"
CONVERTER_JAR = "medrical-connect.jar"
# Medrical's own COPY sink connector, likewise, in a plugin folder of its own.
SINK_SOURCES = "medrical-sink"
SINK_PLUGIN_DIR = "medrical-copy-sink"
SINK_JAR = "medrical-copy-sink.jar"
COPY_SINK_CLASS = "io.medrical.connect.sink.CopySinkConnector"
BUILT_SOURCES = (CONVERTER_SOURCES, SINK_SOURCES)
_COMPLETE_MARKER = ".complete"
JDBC_SINK_CLASS = "io.debezium.connector.jdbc.JdbcSinkConnector"


def _resource_dir() -> Path:
    return Path(str(resources.files("medrical.stack") / "resources"))


def _pinned_files() -> list[Path]:
    built = [
        path
        for folder in BUILT_SOURCES
        for path in sorted((_resource_dir() / folder).rglob("*"))
        if path.is_file()
    ]
    return [_resource_dir() / name for name in POMS] + built


def engines_digest() -> str:
    digest = hashlib.sha256()
    for path in _pinned_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def engines_dir(cache_dir: Path) -> Path:
    return cache_dir / "engines" / engines_digest()


def _layout_is_complete(target: Path) -> bool:
    return (
        (target / _COMPLETE_MARKER).is_file()
        and any((target / "lib").glob("kafka_2.13-*.jar"))
        and any((target / "lib").glob("connect-runtime-*.jar"))
        and (target / "apicurio" / "quarkus-run.jar").is_file()
        and any((target / "plugins").glob("debezium-connector-jdbc/debezium-connector-jdbc-*.jar"))
        and any((target / "plugins" / "apicurio-converter").glob("*converter*.jar"))
        and (target / "plugins" / "apicurio-converter" / CONVERTER_JAR).is_file()
        and (target / "plugins" / SINK_PLUGIN_DIR / SINK_JAR).is_file()
        and any((target / "plugins" / SINK_PLUGIN_DIR).glob("postgresql-*.jar"))
        and (target / "agents" / "jmx_prometheus_javaagent.jar").is_file()
    )


def _run_maven(
    mvn: str, pom: Path, target: Path, *, show_progress: bool, phase: str = "generate-resources"
) -> None:
    command = [mvn, "-B", "--strict-checksums", "-f", str(pom), f"-Dstack.home={target}", phase]
    lines: list[str] = []
    downloaded = 0
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            if "Downloaded from" in line:
                downloaded += 1
                if show_progress:
                    name = line.rsplit("/", 1)[-1].split(" (")[0]
                    sys.stderr.write(f"\r  fetched {downloaded:4d} files  {name[:50]:<50}")
                    sys.stderr.flush()
        returncode = process.wait()
    if show_progress and downloaded:
        sys.stderr.write("\n")
    if returncode != 0:
        errors = [line for line in lines if line.startswith("[ERROR]")][:8]
        raise StackError(
            f"Maven could not fetch the engines pinned in {pom.name} (exit {returncode}).",
            hint="Check the network access to Maven Central, then run `medrical stack fetch`.",
            log_tail="\n".join(errors or lines[-15:]),
        )


def fetch_engines(cache_dir: Path, *, show_progress: bool | None = None) -> Path:
    """Make sure every pinned engine is in the cache; return the folder holding them."""
    target = engines_dir(cache_dir)
    if _layout_is_complete(target):
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "Maven (mvn) is needed to fetch the stack's engines the first time, "
            "and it is not on PATH.",
            hint="Install it (Debian: `apt-get install maven`), then run `medrical stack up`.",
        )
    if shutil.which("javac") is None:
        raise StackError(
            "a Java compiler (javac) is needed to build Medrical's Connect converter the first "
            "time, and it is not on PATH.",
            hint="Install a JDK (Debian: `apt-get install default-jdk-headless`), then run "
            "`medrical stack up`.",
        )
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    target.mkdir(parents=True, exist_ok=True)
    log.info("fetching the stack's engines from Maven Central into %s", target)
    sys.stderr.write("Fetching Kafka, Kafka Connect, Debezium JDBC sink and Apicurio Registry...\n")
    for name in POMS:
        _run_maven(mvn, _resource_dir() / name, target, show_progress=show_progress)
    for folder in BUILT_SOURCES:
        pom = _resource_dir() / folder / "pom.xml"
        _run_maven(mvn, pom, target, show_progress=show_progress, phase="package")
    shutil.rmtree(target / "build", ignore_errors=True)
    (target / _COMPLETE_MARKER).write_text(engines_digest() + "\n", encoding="utf-8")
    if not _layout_is_complete(target):
        raise StackError(
            f"Maven finished but the engines in {target} are incomplete.",
            hint="Remove that folder and run `medrical stack fetch` again.",
        )
    return target


def pinned_versions() -> dict[str, str]:
    """Versions pinned in the POMs, for `stack status` and the docs."""
    import xml.etree.ElementTree as ElementTree

    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    versions: dict[str, str] = {}
    for name in POMS:
        root = ElementTree.parse(_resource_dir() / name).getroot()  # noqa: S314 - our own file
        props = root.find("m:properties", ns)
        if props is None:
            continue
        for prop in props:
            tag = prop.tag.split("}", 1)[-1]
            if tag.endswith(".version") and prop.text:
                key = tag.removesuffix(".version")
                if name == "converter-pom.xml":
                    key = f"{key}-converter"
                versions[key] = prop.text
    return versions
