"""`medrical configure`'s flags, derived from the configuration model.

Each flag names its setting once; its type, its choices (an Enum of the model's Literal), its
panel in `--help`, whether it is a secret (then it also has a `-file` form and an environment
variable) and whether it is a path (stored absolute) all come from the model's field.
"""

from __future__ import annotations

import enum
import functools
import inspect
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import typer
from pydantic import SecretStr

from medrical.config.model import SECTIONS
from medrical.config.sources import ENV_ALIASES, ENV_PREFIX

PANELS = {
    "kafka": "Kafka",
    "registry": "Schema registry",
    "connect": "Kafka Connect",
    "postgres": "PostgreSQL",
}


@dataclass(frozen=True)
class Flag:
    setting: str
    option: str
    help: str | None = None

    @property
    def section(self) -> str:
        return self.setting.partition(".")[0]

    @property
    def field(self) -> str:
        return self.setting.partition(".")[2]

    @property
    def param(self) -> str:
        return self.option.removeprefix("--").replace("-", "_")

    @property
    def file_param(self) -> str:
        return f"{self.param}_file"

    @property
    def value_type(self) -> Any:
        """The model field's type without None, Annotated constraints or the SecretStr wrap."""
        return _base_type(SECTIONS[self.section].model_fields[self.field].annotation)

    @property
    def secret(self) -> bool:
        return self.value_type is SecretStr

    @property
    def envvar(self) -> str:
        """The environment variable a secret flag is best given by."""
        for name, (section, field) in ENV_ALIASES.items():
            if (section, field) == (self.section, self.field):
                return name
        return f"{ENV_PREFIX}{self.section.upper()}__{self.field.upper()}"

    def parameters(self) -> list[inspect.Parameter]:
        panel = PANELS[self.section]
        kind = self.value_type
        declared: list[str] = [self.option]
        help_text = self.help or ""
        envvar = None
        if self.secret:
            kind, envvar = str, self.envvar
            better = f"{envvar} or {self.option}-file" if self.has_file else envvar
            help_text = f"{help_text} Better given by {better}.".strip()
        elif kind is bool:
            declared = [f"{self.option}/--no-{self.option.removeprefix('--')}"]
        elif get_origin(kind) is Literal:
            kind = _choices(self.setting, get_args(kind))
        option = typer.Option(
            *declared,
            help=help_text or None,
            envvar=envvar,
            rich_help_panel=panel,
            case_sensitive=False,
            show_envvar=False,
        )
        found = [_parameter(self.param, Annotated[kind | None, option])]
        if self.secret and self.has_file:
            file_option = typer.Option(
                f"{self.option}-file",
                help=f"File holding {self.option[2:]}.",
                rich_help_panel=panel,
            )
            found.append(_parameter(self.file_param, Annotated[Path | None, file_option]))
        return found

    @property
    def has_file(self) -> bool:
        # postgres.password has its own file setting, read at each run: --postgres-password-file.
        return self.setting != "postgres.password"


def _parameter(name: str, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
    )


def _base_type(annotation: Any) -> Any:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        annotation = members[0]
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


@functools.cache
def _choices(setting: str, values: tuple[str, ...]) -> type[enum.Enum]:
    """An Enum for `--help` and click's choice check, named after the setting."""
    name = "".join(part.title() for part in setting.replace(".", "_").split("_"))
    return enum.Enum(name, {value: value for value in values})  # type: ignore[return-value]


FLAGS = (
    Flag("kafka.bootstrap_servers", "--kafka-bootstrap-servers", "host:port[,host:port...]"),
    Flag("kafka.security_protocol", "--security-protocol"),
    Flag("kafka.sasl_mechanism", "--sasl-mechanism"),
    Flag("kafka.sasl_username", "--sasl-username"),
    Flag("kafka.sasl_password", "--sasl-password"),
    Flag("kafka.ssl_ca_location", "--ssl-ca", "CA certificate (ca.pem)."),
    Flag("kafka.ssl_certificate_location", "--ssl-cert", "Client certificate (service.cert)."),
    Flag("kafka.ssl_key_location", "--ssl-key", "Client key (service.key)."),
    Flag("kafka.ssl_key_password", "--ssl-key-password"),
    Flag(
        "kafka.ssl_endpoint_identification",
        "--ssl-endpoint-identification",
        "Check that the broker's certificate names its host.",
    ),
    Flag("registry.url", "--registry-url"),
    Flag("registry.basic_auth_user_info", "--registry-user-info", "USER:PASSWORD."),
    Flag("registry.ssl_ca_location", "--registry-ca", "CA certificate."),
    Flag("connect.url", "--connect-url"),
    Flag("connect.basic_auth_user_info", "--connect-user-info", "USER:PASSWORD."),
    Flag("connect.ssl_ca_location", "--connect-ca", "CA certificate."),
    Flag("postgres.host", "--postgres-host"),
    Flag("postgres.port", "--postgres-port"),
    Flag("postgres.database", "--postgres-database"),
    Flag("postgres.user", "--postgres-user"),
    Flag("postgres.password", "--postgres-password"),
    Flag(
        "postgres.password_file",
        "--postgres-password-file",
        "File the password is read from at each run (it is not copied).",
    ),
    Flag("postgres.sslmode", "--postgres-sslmode"),
    Flag("postgres.sslrootcert", "--postgres-sslrootcert", "CA certificate."),
)


def with_flag_parameters(function: Any) -> Any:
    """Give `function(ctx, **values)` one keyword parameter per flag, as typer reads them."""
    signature = inspect.signature(function, eval_str=True)
    fixed = list(signature.parameters.values())
    variadic = [p for p in fixed if p.kind is inspect.Parameter.VAR_KEYWORD]
    fixed = [p for p in fixed if p.kind is not inspect.Parameter.VAR_KEYWORD]
    derived = [parameter for flag in FLAGS for parameter in flag.parameters()]
    assert variadic, "the function takes the flags as **values"
    function.__signature__ = signature.replace(parameters=[*fixed, *derived])
    hints = typing.get_type_hints(function, include_extras=True)
    hints.update({parameter.name: parameter.annotation for parameter in derived})
    function.__annotations__ = hints
    return function
