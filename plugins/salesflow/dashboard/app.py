"""The dashboard's FastAPI app, mounted by Airflow's API server under ``/salesflow``.

Routes (all of them for logged-in Airflow users only):

- ``/``: the page (HTML shell; its script loads each panel on its own, so a slow or failing
  source holds up one panel, not the page);
- ``/api/<panel>``: the panel's numbers as JSON (money as exact decimal strings);
- ``/panels/<panel>``: the panel's HTML fragment, charts included, drawn from the same record;
- ``/static/<file>``: the page's own script, style sheet and icon (no CDN, nothing external).

Airflow mounts plugin apps outside its own authentication, so this app checks the user itself:
every route depends on Airflow's ``get_user``, which accepts the UI's ``_token`` cookie (sent by
the browser to this same-origin page, also inside the UI's iframe) or an ``Authorization: Bearer``
token, and validates it with the auth manager. Without one: 401 (403 for a bad token); the page
itself redirects to the login page instead.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from salesflow.config import AWS_CONN_ID, Settings, load_settings
from salesflow.dashboard.render import PANELS
from salesflow.dashboard.sources import Sources
from salesflow.db import DatabaseUnavailableError, connect
from salesflow.storage import s3_hook

STATIC_FILES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
# The listing of the source prefix answers fast or says it cannot (the panel shows the error).
S3_CLIENT_LIMITS = {
    "connect_timeout": 3,
    "read_timeout": 10,
    "retries": {"max_attempts": 2, "mode": "standard"},
}
# Everything the page uses comes from this app: the browser may fetch nothing from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


class _Sources:
    """Settings and the S3 hook, made once on first use (not at import: every Airflow process
    loads plugins, and a broken config must not stop the API server from starting)."""

    def __init__(self, settings: Settings | None) -> None:
        self._settings = settings
        self._s3_hook: Any = None
        self._lock = threading.Lock()

    def settings(self) -> Settings:
        with self._lock:
            if self._settings is None:
                self._settings = load_settings()
            return self._settings

    def s3_hook(self) -> Any:
        # One hook, one boto3 client (thread-safe): creating a client costs more than a listing.
        with self._lock:
            if self._s3_hook is None:
                self._s3_hook = _listing_hook()
                self._s3_hook.get_conn()
            return self._s3_hook


def _listing_hook() -> Any:
    """The project's S3 hook, with short timeouts merged over the connection's own client config."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from botocore.config import Config

    own = s3_hook().conn_config.botocore_config or Config()
    return S3Hook(aws_conn_id=AWS_CONN_ID, config=own.merge(Config(**S3_CLIENT_LIMITS)))


def to_json(value: Any) -> Any:
    """Records to JSON values: decimals as exact strings, dates and times in ISO 8601."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@cache
def static_text(name: str) -> str:
    return files("salesflow.dashboard").joinpath("static", name).read_text(encoding="utf-8")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; `settings` for tests, else the environment's settings are read on first use."""
    app = FastAPI(
        title="salesflow dashboard",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(get_user)],
    )
    sources = _Sources(settings)
    app.add_exception_handler(StarletteHTTPException, _login_first)
    app.middleware("http")(_security_headers)
    _add_routes(app, sources)
    return app


def _add_routes(app: FastAPI, sources: _Sources) -> None:
    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(static_text("index.html"))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(status_code=404, detail="no such file")
        return Response(static_text(name), media_type=STATIC_FILES[name])

    @app.get("/api/{panel}")
    def panel_json(panel: str) -> JSONResponse:
        return JSONResponse(to_json(_read_panel(sources, panel)))

    @app.get("/panels/{panel}", response_class=HTMLResponse)
    def panel_html(panel: str) -> HTMLResponse:
        data = _read_panel(sources, panel)
        return HTMLResponse(PANELS[panel].html(data))


def _read_panel(sources: _Sources, panel: str) -> Any:
    if panel not in PANELS:
        raise HTTPException(status_code=404, detail=f"no panel {panel!r}")
    settings = sources.settings()
    try:
        with connect(settings) as conn:
            return PANELS[panel].read(Sources(settings, conn, sources.s3_hook))
    except DatabaseUnavailableError as error:
        # The message names host, port and user (never the password): what an operator needs.
        raise HTTPException(status_code=503, detail=str(error)) from None


async def _login_first(request: Request, error: Exception) -> Response:
    """An anonymous visit to the page goes to Airflow's login; everything else keeps its status."""
    if not isinstance(error, StarletteHTTPException):
        raise error
    route = request.scope.get("route")
    if error.status_code in (401, 403) and getattr(route, "path", None) == "/":
        from airflow.api_fastapi.app import get_auth_manager

        login = get_auth_manager().get_url_login(next_url=request.url.path)
        return RedirectResponse(login, status_code=303)
    return await http_exception_handler(request, error)


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # The numbers change with every run: never served from a cache.
    response.headers["Cache-Control"] = "no-store"
    return response
