"""The "Sales pipeline" page inside the Airflow UI (SPEC "Monitoring"), as an Airflow plugin.

Airflow's API server mounts the dashboard's FastAPI app under ``/salesflow`` and the UI shows it
in an iframe from the Browse menu (``/plugin/sales-pipeline``). The app itself is in
:mod:`salesflow.dashboard.app`; see there how it requires a logged-in Airflow user.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/salesflow"


class DashboardApp:
    """An ASGI app that builds the dashboard's FastAPI app on its first request.

    Every Airflow process loads the plugins folder (each task does, for macros) but only the API
    server serves this app: the others never import FastAPI or the dashboard for it.
    """

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from salesflow.dashboard.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class SalesflowDashboardPlugin(AirflowPlugin):
    name = "salesflow_dashboard"
    fastapi_apps = [{"app": DashboardApp(), "url_prefix": URL_PREFIX, "name": "Sales pipeline"}]
    external_views = [
        {
            "name": "Sales pipeline",
            "href": f"{URL_PREFIX}/",
            "url_route": "sales-pipeline",
            "destination": "nav",
            "category": "browse",
            "icon": f"{URL_PREFIX}/static/icon.svg",
        }
    ]
