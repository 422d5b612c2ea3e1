"""Replay: recorded vital signs from a CSV file, as readings.

Columns are matched to `Reading` fields by a mapping (field -> header) or, for fields the
mapping leaves out, by a header equal to the field name. Timestamps are kept, or re-based so
that the first good row falls on a new start time. A row that does not parse is reported with
its line number, skipped and counted; it never stops the replay.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from medrical.errors import InputError
from medrical.simulation.reading import CONSCIOUSNESS_LEVELS, FIELD_NAMES, Reading
from medrical.timestamps import EVENT_TIME_RANGE, event_time_in_range, parse_event_time
from medrical.vitals import SURVIVABLE_BOUNDS

_REQUIRED: Final = ("patient_id", "event_time")
_TRUE: Final = frozenset({"true", "t", "yes", "y", "1"})
_FALSE: Final = frozenset({"false", "f", "no", "n", "0"})
# A line longer than this is no recording of vital signs: skipped unread, so that memory stays
# bounded whatever the file holds. (The csv module bounds a quoted field spanning many lines.)
MAX_LINE_BYTES: Final = 64 * 1024
_BOM: Final = "\ufeff"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row that was skipped: its line number in the file and what was wrong with it."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class _RowError(ValueError):
    pass


def _whole_number(field: str, text: str) -> int:
    try:
        number = float(text)
    except ValueError:
        raise _RowError(f"{field} {text!r} is not a number") from None
    if not math.isfinite(number) or not number.is_integer():
        raise _RowError(f"{field} {text!r} is not a whole number")
    return int(number)


def _within(field: str, value: float) -> None:
    low, high = SURVIVABLE_BOUNDS[field]
    if not low <= value <= high:
        raise _RowError(f"{field} {value} is outside {low:g}..{high:g}")


def _bounded_int(field: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _whole_number(field, text)
        _within(field, value)
        return value

    return parse


def _temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _RowError(f"body_temperature {text!r} is not a number") from None
    if not math.isfinite(value):
        raise _RowError(f"body_temperature {text!r} is not a number")
    value = round(value, 1)
    _within("body_temperature", value)
    return value


def _time(field: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        """Whole milliseconds since the epoch, or ISO-8601 (without an offset: UTC)."""
        try:
            return parse_event_time(text)
        except ValueError as exc:
            raise _RowError(f"{field} {exc}") from None

    return parse


def _consciousness(text: str) -> str:
    level = text.upper()
    if level not in CONSCIOUSNESS_LEVELS:
        raise _RowError(f"consciousness {text!r} is not one of {', '.join(CONSCIOUSNESS_LEVELS)}")
    return level


def _on_oxygen(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _RowError(f"on_oxygen {text!r} is not true/false, yes/no or 1/0")


def _spo2_scale(text: str) -> int:
    if text not in ("1", "2"):
        raise _RowError(f"spo2_scale {text!r} is not 1 or 2")
    return int(text)


_PARSERS: Final[dict[str, Callable[[str], Any]]] = {
    "patient_id": str,
    "event_time": _time("event_time"),
    "heart_rate": _bounded_int("heart_rate"),
    "systolic_bp": _bounded_int("systolic_bp"),
    "diastolic_bp": _bounded_int("diastolic_bp"),
    "body_temperature": _temperature,
    "spo2": _bounded_int("spo2"),
    "respiratory_rate": _bounded_int("respiratory_rate"),
    "consciousness": _consciousness,
    "on_oxygen": _on_oxygen,
    "scenario": str,
    "spo2_scale": _spo2_scale,
    "onset_time": _time("onset_time"),
}


class CsvReplay:
    """Recorded vital signs in a CSV file, iterated as `Reading` objects in file order.

    ``columns`` maps field names to CSV headers; fields it leaves out are matched by a header
    equal to the field name, and fields with no column at all are ``None``. ``start_ms``
    re-bases the timestamps so that the first good row falls on it (None keeps them). After
    (or during) iteration, ``problems`` lists the skipped rows and ``skipped`` counts them.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        columns: Mapping[str, str] | None = None,
        start_ms: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.columns: dict[str, str] = dict(columns or {})
        unknown = sorted(set(self.columns) - set(FIELD_NAMES))
        if unknown:
            raise InputError(
                f"Column mapping for {self.path} names unknown fields: {', '.join(unknown)}.",
                hint=f"Fields are: {', '.join(FIELD_NAMES)}.",
            )
        self.start_ms = start_ms
        self.problems: list[RowProblem] = []
        self.rows_read = 0
        # Physical lines (1-based) that could not be read as text, and why.
        self._bad_lines: dict[int, str] = {}

    @property
    def skipped(self) -> int:
        """How many data rows were skipped because they did not parse."""
        return len(self.problems)

    def check_readable(self) -> None:
        """Raise InputError unless the file can be opened for reading (before any network)."""
        try:
            with self.path.open("rb"):
                pass
        except FileNotFoundError:
            raise InputError(f"Replay file {self.path} does not exist.") from None
        except IsADirectoryError:
            raise InputError(f"Replay file {self.path} is a directory, not a CSV file.") from None
        except OSError as exc:
            raise InputError(f"Replay file {self.path} cannot be read: {exc.strerror}.") from None

    def __iter__(self) -> Iterator[Reading]:
        self.problems = []
        self.rows_read = 0
        self.check_readable()
        self._bad_lines = {}
        try:
            with self.path.open("rb") as handle:
                yield from self._readings(csv.reader(self._lines(handle)))
        except OSError as exc:
            raise InputError(f"Replay file {self.path} cannot be read: {exc.strerror}.") from None
        except csv.Error as exc:
            raise InputError(f"Replay file {self.path} is not valid CSV: {exc}") from None

    def _lines(self, handle: IO[bytes]) -> Iterator[str]:
        """The file's lines as text, one by one; a line that is not UTF-8 or is too long is
        noted (its row is skipped) and stands in as an empty line, so line numbers hold."""
        number = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):
                    raw = handle.readline(MAX_LINE_BYTES)
                self._bad_lines[number] = f"is longer than {MAX_LINE_BYTES} bytes"
                yield "\n"
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._bad_lines[number] = f"is not UTF-8 text (byte {exc.start + 1})"
                yield "\n"
                continue
            # Excel writes a byte order mark before the header.
            yield text.removeprefix(_BOM) if number == 1 else text

    def _positions(self, header: list[str]) -> dict[str, int]:
        by_name = {name.strip(): index for index, name in enumerate(header)}
        positions = {}
        for field in FIELD_NAMES:
            column = self.columns.get(field, field)
            if column in by_name:
                positions[field] = by_name[column]
            elif field in self.columns:
                raise InputError(
                    f"Replay file {self.path} has no column {column!r} (mapped to {field}).",
                    hint=f"Its columns are: {', '.join(by_name)}.",
                )
        missing = [field for field in _REQUIRED if field not in positions]
        if missing:
            raise InputError(
                f"Replay file {self.path} has no column for {' or '.join(missing)}.",
                hint="Name the columns after the fields or give a column mapping.",
            )
        return positions

    def _rows(self, rows: Any) -> Iterator[tuple[int, list[str] | str]]:
        """(line, cells) of each row, or (line, why) for a row that cannot be read as CSV;
        `line` is the row's last physical line, as csv counts them."""
        last = 0
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error as exc:
                last = rows.line_num
                yield last, str(exc)
                continue
            first, last = last + 1, rows.line_num
            bad = next(
                (self._bad_lines[n] for n in range(first, last + 1) if n in self._bad_lines), None
            )
            yield last, row if bad is None else bad

    def _readings(self, rows: Any) -> Iterator[Reading]:
        numbered = self._rows(rows)
        line, header = next(numbered, (0, []))
        if not header:
            raise InputError(f"Replay file {self.path} is empty; it needs a header row.")
        if isinstance(header, str):
            raise InputError(f"Replay file {self.path}: its header (line {line}) {header}.")
        positions = self._positions(header)
        shift: int | None = None
        for line, row in numbered:
            if isinstance(row, list) and (not row or all(not cell.strip() for cell in row)):
                continue
            self.rows_read += 1
            try:
                if isinstance(row, str):
                    raise _RowError(row)
                values = self._parse(row, positions)
                if shift is None:
                    shift = 0 if self.start_ms is None else self.start_ms - values["event_time"]
                for field in ("event_time", "onset_time"):
                    if values[field] is None:
                        continue
                    # The onset is re-based with the readings, so it keeps its place among them.
                    values[field] += shift
                    if not event_time_in_range(values[field]):
                        raise _RowError(f"{field} re-based lies outside {EVENT_TIME_RANGE}")
            except _RowError as exc:
                self.problems.append(RowProblem(line, str(exc)))
                continue
            yield Reading(**values)

    def _parse(self, row: list[str], positions: dict[str, int]) -> dict[str, Any]:
        values: dict[str, Any] = dict.fromkeys(FIELD_NAMES)
        for field, index in positions.items():
            if index >= len(row):
                raise _RowError(f"has {len(row)} columns, too few for {field}")
            text = row[index].strip()
            if text:
                values[field] = _PARSERS[field](text)
        for field in _REQUIRED:
            if values[field] is None:
                raise _RowError(f"{field} is empty")
        systolic, diastolic = values["systolic_bp"], values["diastolic_bp"]
        if systolic is not None and diastolic is not None and diastolic >= systolic:
            raise _RowError(f"diastolic_bp {diastolic} is not below systolic_bp {systolic}")
        return values
