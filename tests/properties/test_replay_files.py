"""Replay files of any content: each good row is replayed in order, every other row is skipped
with its line number, and nothing but a clear InputError ever stops a replay."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from medrical import schemas
from medrical.errors import InputError
from medrical.simulation import FIELD_NAMES, SURVIVABLE_BOUNDS, CsvReplay, Reading
from medrical.timestamps import event_time_in_range

HEADER = ",".join(FIELD_NAMES)
GOOD = "P-{n},{t},72,120,80,36.6,97,15,A,false,recorded,1,{t}"  # onset_time last

# Cells of every kind that breaks parsers: digits of other scripts, signs, huge numbers,
# separators, quotes, control characters, surrogate-free unicode.
hostile_cell = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["--5", "²", "١٢", "nan", "inf", "-0", "1e400", "9" * 30, '"', '""', "\x00"]),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
hostile_row = st.lists(hostile_cell, min_size=0, max_size=14).map(
    lambda cells: ",".join(c.replace("\n", " ").replace("\r", " ").replace('"', "") for c in cells)
)


def read_all(path: Path) -> tuple[list[Reading], list[int]]:
    replay = CsvReplay(path)
    readings = list(replay)
    return readings, [problem.line for problem in replay.problems]


@given(rows=st.lists(st.one_of(st.none(), hostile_row), max_size=12))
def test_good_rows_survive_any_bad_rows_between_them(
    tmp_path: Path, rows: list[str | None]
) -> None:
    lines, good_ids = [], []
    for index, row in enumerate(rows):
        if row is None:
            good_ids.append(f"P-{index}")
            lines.append(GOOD.format(n=index, t=1_767_225_600_000 + index))
        else:
            lines.append(row)
    path = tmp_path / "rows.csv"
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    readings, problem_lines = read_all(path)
    kept = [r.patient_id for r in readings]
    # Nothing accepted is lost: every good row is there, in file order (a hostile row may
    # happen to be good too).
    assert [pid for pid in kept if pid in good_ids] == good_ids
    assert all(2 <= line <= len(lines) + 1 for line in problem_lines)
    for reading in readings:
        record = reading.to_record()
        schemas.check_record(record)
        assert event_time_in_range(record["event_time"])
        for field, (low, high) in SURVIVABLE_BOUNDS.items():
            assert record[field] is None or low <= record[field] <= high


@given(content=st.binary(max_size=400))
def test_any_bytes_either_replay_or_stop_with_one_clear_error(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "any.csv"
    path.write_bytes(content)
    refusal: str | None = None
    try:
        readings, _ = read_all(path)
    except InputError as exc:
        refusal = str(exc)
    if refusal is not None:
        assert refusal.startswith("Replay file"), refusal
        assert "\n" not in refusal
        return
    for reading in readings:
        schemas.check_record(reading.to_record())


@given(body=st.binary(max_size=300))
def test_any_bytes_after_a_good_header_never_stop_the_replay(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "body.csv"
    path.write_bytes((HEADER + "\n" + GOOD.format(n=0, t=0) + "\n").encode() + body)
    readings, _ = read_all(path)
    assert readings, "the first good row is replayed whatever follows"
    assert readings[0].patient_id == "P-0"
