"""`medrical dead-letters list|replay`: the records the sink could not convert."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from medrical.cli import _state
from medrical.errors import InputError

dead_letters_app = typer.Typer(
    help="The records the sink could not read (not Avro, or a schema id the registry does not "
    "know), kept in medrical_dead_letters with their error: list them, and replay chosen ones "
    "to their source topic once the cause is fixed.",
    no_args_is_help=True,
)

TopicOption = Annotated[
    str | None, typer.Option("--topic", "-t", help="Only those of this source topic.")
]


def _say(line: str) -> None:
    typer.echo(line, err=True)


@dead_letters_app.command("list")
def list_command(
    topic: TopicOption = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many (the newest).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List dead letters with their context: id, source topic, partition and offset, the
    stage that failed (key or value converter), the exception and its message."""
    from medrical.sink.dead_letters import read_dead_letters, select, summarise

    letters = select(read_dead_letters(_state.config()), topic=topic, include_replayed=True)
    shown = letters[-limit:]
    if as_json:
        for letter in shown:
            typer.echo(json.dumps(letter.as_json()))
        return
    if not letters:
        _say("no dead letters" + (f" from {topic}" if topic else ""))
        return
    for letter in shown:
        when = dt.datetime.fromtimestamp(letter.timestamp_ms / 1000, dt.UTC)
        mark = " (replayed)" if letter.replayed else ""
        typer.echo(
            f"{letter.id:<10} {when:%Y-%m-%d %H:%M:%S}  {letter.topic}[{letter.source_partition}]"
            f"@{letter.source_offset}  {letter.stage}  {letter.exception}: "
            f"{(letter.message or '')[:160]}{mark}"
        )
    for summary in summarise(letters):
        _say(f"{summary.topic}: {summary.count} dead letter(s), {summary.pending} not replayed")
    if len(letters) > len(shown):
        _say(f"(the newest {len(shown)} of {len(letters)} shown; --limit for more)")


@dead_letters_app.command()
def replay(
    ids: Annotated[
        list[str] | None,
        typer.Argument(help="Dead letters to replay, by id (partition:offset, from `list`)."),
    ] = None,
    topic: TopicOption = None,
    all_pending: Annotated[
        bool, typer.Option("--all", help="Every one not replayed yet (of --topic, if given).")
    ] = False,
    again: Annotated[
        bool, typer.Option("--again", help="Include dead letters that were replayed before.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would go.")] = False,
) -> None:
    """Put dead letters back on their source topic and partition, as they were, once the
    cause is fixed; the upserting sink stores each exactly once. Each is recorded as replayed,
    so a second replay skips it unless --again."""
    from medrical.sink.dead_letters import read_dead_letters, select
    from medrical.sink.dead_letters import replay as replay_letters

    if not ids and topic is None and not all_pending:
        raise InputError("name the dead letters to replay: ids, --topic T, or --all.")
    config = _state.config()
    chosen = select(read_dead_letters(config), ids=ids or (), topic=topic, include_replayed=again)
    if not chosen:
        _say("nothing to replay (already replayed ones need --again)")
        return
    if dry_run:
        for letter in chosen:
            typer.echo(f"{letter.id} -> {letter.topic}[{letter.source_partition}]")
        _say(f"{len(chosen)} dead letter(s) would be replayed")
        return
    done = replay_letters(config, chosen)
    for item in done:
        typer.echo(f"{item.letter.id} -> {item.letter.topic}[{item.partition}]@{item.offset}")
    _say(f"{len(done)} dead letter(s) replayed")
