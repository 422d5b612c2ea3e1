"""`medrical chaos ...`: faults on demand for the local stack, once or in a loop."""

from __future__ import annotations

import random
from typing import Annotated

import typer

from medrical.cli import _state
from medrical.errors import InputError, StackError
from medrical.stack.chaos import ANY_BROKER, Action, Chaos, ChaosEvent, parse_duration
from medrical.stack.manager import LocalStack

chaos_app = typer.Typer(
    help="Kill, stop, start, pause or resume a service of the local stack (by its PID file), "
    "once or every so often, and print what was done and when.",
    no_args_is_help=True,
)

_HELPS = {
    Action.KILL: "Kill (SIGKILL) a service, as a crash would.",
    Action.STOP: "Stop a service cleanly (SIGTERM).",
    Action.START: "Start a stopped or killed service and wait until it is healthy.",
    Action.PAUSE: "Pause a service (SIGSTOP): it keeps its connections and answers nothing.",
    Action.RESUME: "Resume a paused service (SIGCONT).",
}

TargetsArgument = Annotated[
    list[str],
    typer.Argument(
        help="Services: postgres, kafka (kafka-1 to kafka-3 with 3 brokers), registry, "
        f"connect, or `{ANY_BROKER}` for a broker chosen at random. With several, each round "
        "picks one at random.",
        show_default=False,
    ),
]
BackAfterOption = Annotated[
    str | None,
    typer.Option(
        "--back-after",
        help="Bring it back (start, resume) after this long, e.g. 10s (kill, stop, pause).",
    ),
]
EveryOption = Annotated[
    str | None, typer.Option("--every", help="Repeat this often, e.g. 20s (needs --for).")
]
ForOption = Annotated[
    str | None, typer.Option("--for", help="Repeat for this long, e.g. 5m (needs --every).")
]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Same seed, same random choices.")]


def _echo(event: ChaosEvent) -> None:
    typer.echo(event.line())


def _run(
    action: Action,
    targets: list[str],
    back_after: str | None,
    every: str | None,
    for_: str | None,
    seed: int | None,
) -> None:
    if (every is None) != (for_ is None):
        raise InputError("--every and --for go together: e.g. --every 20s --for 5m.")
    back_after_s = parse_duration(back_after, option="--back-after") if back_after else None
    if back_after_s is not None and action in (Action.START, Action.RESUME):
        raise InputError(f"--back-after undoes kill, stop or pause, not {action}.")
    chaos = Chaos(
        LocalStack(_state.config().stack),
        report=_echo,
        rng=random.Random(seed),
    )
    chaos.check_targets(targets)
    if every is None or for_ is None:
        for target in targets:
            service, done = chaos.act(action, target, back_after_s=back_after_s)
            if not done:
                raise StackError(
                    f"{service.name} was left as it was.", hint="See `medrical stack status`."
                )
        return
    rounds = chaos.loop(
        action,
        targets,
        every_s=parse_duration(every, option="--every"),
        for_s=parse_duration(for_, option="--for"),
        back_after_s=back_after_s,
    )
    typer.echo(f"{rounds} round(s) of {action}", err=True)


def _register(action: Action) -> None:
    def command(
        targets: TargetsArgument,
        back_after: BackAfterOption = None,
        every: EveryOption = None,
        for_: ForOption = None,
        seed: SeedOption = None,
    ) -> None:
        _run(action, targets, back_after, every, for_, seed)

    command.__doc__ = _HELPS[action]
    chaos_app.command(str(action))(command)


for _action in Action:
    _register(_action)
