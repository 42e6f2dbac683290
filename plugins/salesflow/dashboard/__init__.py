"""The "Sales pipeline" monitoring page: an Airflow plugin app (``plugins/salesflow_dashboard.py``).

- :mod:`salesflow.dashboard.panels` reads each panel's numbers (ledger, marts, analytics, the
  source prefix, Airflow's own runs) into small typed records; those are the JSON endpoints.
- :mod:`salesflow.dashboard.charts` draws bar and line charts as SVG, server-side.
- :mod:`salesflow.dashboard.render` turns a panel's record into the HTML fragment the page shows.
- :mod:`salesflow.dashboard.app` is the FastAPI app: every route requires a logged-in Airflow user.
"""
