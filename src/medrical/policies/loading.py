"""Finding a policy by what the user typed: a built-in name, a limits file, `module:callable`,
or an installed plug-in (a Python entry point in the group `medrical.policies`).

A `module:callable` or entry point may name a `Policy`, or a plain function from Observation to
Verdict, which becomes a policy named after it (underscores read as dashes).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from medrical.policies.limits import builtin_limits, load_limits_file
from medrical.policies.mews import MEWS
from medrical.policies.model import Policy, PolicyError
from medrical.policies.news2 import NEWS2
from medrical.policies.qsofa import QSOFA

ENTRY_POINT_GROUP = "medrical.policies"
BUILTIN: dict[str, Callable[[], Policy]] = {
    "news2": lambda: NEWS2,
    "mews": lambda: MEWS,
    "qsofa": lambda: QSOFA,
    "limits": builtin_limits,
}
DEFAULT = "news2"


def load_policy(spec: str) -> Policy:
    """The policy `spec` names; PolicyError (one line, with a hint) when there is none."""
    spec = spec.strip()
    if spec in BUILTIN:
        return BUILTIN[spec]()
    if spec.endswith(".toml"):
        return load_limits_file(spec)
    if ":" in spec:
        return _from_path(spec)
    plugins = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if spec in plugins:
        try:
            target = plugins[spec].load()
        except Exception as exc:  # a broken plug-in must not take the command down with a traceback
            raise PolicyError(
                f"Policy plug-in {spec!r} failed to load: {type(exc).__name__}: {exc}", policy=spec
            ) from exc
        return as_policy(target, spec, default_name=spec)
    known = [*BUILTIN, *sorted(plugins)]
    raise PolicyError(
        f"Unknown policy {spec!r}.",
        policy=spec,
        hint=f"Choose one of {', '.join(known)}, a limits file (*.toml) or module:callable.",
    )


def load_policies(specs: list[str] | None) -> list[Policy]:
    """Every policy named (NEWS2 alone when none is); names must be distinct."""
    policies = [load_policy(spec) for spec in (specs or [DEFAULT])]
    seen: set[str] = set()
    for policy in policies:
        if policy.name in seen:
            raise PolicyError(
                f"Two policies are named {policy.name!r}.",
                policy=policy.name,
                hint="Give each one once; a limits file's `name` key renames it.",
            )
        seen.add(policy.name)
    return policies


def _from_path(spec: str) -> Policy:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise PolicyError(
            f"Policy {spec!r} is not of the form module:callable.",
            policy=spec,
            hint="For example: --policy mypkg.scores:shock_index",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PolicyError(
            f"Cannot import {module_name!r} for policy {spec!r}: {exc}",
            policy=spec,
            hint="Is the module on PYTHONPATH or installed in this environment?",
        ) from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise PolicyError(
                f"Module {module_name!r} has no {attribute!r} for policy {spec!r}.", policy=spec
            ) from None
    return as_policy(target, spec, default_name=attribute.rsplit(".", 1)[-1].replace("_", "-"))


def as_policy(target: object, spec: str, *, default_name: str) -> Policy:
    if isinstance(target, Policy):
        return target
    if callable(target):
        return Policy(name=default_name, assess=target, title=default_name, source=spec)
    raise PolicyError(
        f"{spec!r} is neither a Policy nor a function of an Observation.", policy=spec
    )
