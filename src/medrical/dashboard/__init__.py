"""The live ward dashboard: a web page fed by Medrical's own Kafka consumer.

The core (ward state, alert decoding, history scoring, acknowledgement rules) is plain Python and
needs no web server. The web side imports the optional web dependencies (`pip install
'medrical[dashboard]'`): `app` puts together the routers of `routes/` (one per concern), which
get the ward, the store and the settings from `context` and their access check from `access`;
`middleware` sets what every response carries; `server` runs it all.

Everything shown is synthetic data: Medrical is not a medical device and its scores and alerts
are not for clinical use.
"""

from __future__ import annotations

from medrical.errors import ConfigError

EXTRA_HINT = "Install the dashboard's dependencies: pip install 'medrical[dashboard]'"


def require_web_dependencies() -> None:
    """Raise a ConfigError naming the extra when FastAPI or uvicorn is missing."""
    missing = []
    for module in ("fastapi", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ConfigError(
            f"the dashboard needs {' and '.join(missing)}, which are not installed.",
            hint=EXTRA_HINT,
        )
