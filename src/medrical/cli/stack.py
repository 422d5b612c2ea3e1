"""`medrical stack ...`: the local stack of real engines."""

from __future__ import annotations

import typer

stack_app = typer.Typer(help="Run Kafka, the schema registry, Kafka Connect and PostgreSQL locally.")
