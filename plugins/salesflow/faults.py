"""Fault points: the places where the fault-injection tests make a task fail part-way.

Off unless ``SALESFLOW_FAULT_DIR`` is set (only the tests set it). A test arms a point by writing a
file named after it into that folder; the file's content says what happens when a task reaches it:

- ``raise`` (or empty): the task raises ``InjectedFault`` there, as a lost service would (the
  Spark job does not blame the files for it: the task fails and Airflow retries it);
- ``error``: it raises ``InjectedError``, a failure nobody classified (the Spark job splits the
  batch to find the file it comes with);
- ``kill``: the process is killed with SIGKILL (no ``finally``, no rollback sent to MySQL);
- ``pause``: the point writes ``<name>.reached`` and waits (up to 10 minutes) for ``<name>.release``,
  so the test can break a service at exactly that moment and then let the task carry on.

Options may follow the action: ``match=<text>`` fires only where the point's subject (for example
the keys of the files at hand) contains the text; ``always`` keeps the point armed. Otherwise a
point fires once: its file is removed when it fires, so the retry runs through.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)

FAULT_DIR_ENV = "SALESFLOW_FAULT_DIR"
PAUSE_LIMIT_SECONDS = 600


class InjectedFault(ConnectionError):
    """Raised at an armed fault point: stands for a service that stopped answering."""


class InjectedError(RuntimeError):
    """Raised at a fault point armed with ``error``: a failure nobody classified."""


def fault_point(name: str, subject: str = "") -> None:
    """Fire the fault armed for ``name``, if any (a no-op in normal runs)."""
    folder = os.environ.get(FAULT_DIR_ENV)
    if not folder:
        return
    armed = Path(folder) / name
    try:
        action, *options = armed.read_text().split() or ["raise"]
    except FileNotFoundError:
        return
    match = next((o.removeprefix("match=") for o in options if o.startswith("match=")), "")
    if match not in subject:
        return
    if "always" not in options:
        with contextlib.suppress(FileNotFoundError):
            armed.unlink()
    log.warning("fault point %s: %s", name, action)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "pause":
        (Path(folder) / f"{name}.reached").touch()
        release = Path(folder) / f"{name}.release"
        deadline = time.monotonic() + PAUSE_LIMIT_SECONDS
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    elif action == "error":
        raise InjectedError(f"error injected at {name}")
    else:
        raise InjectedFault(f"fault injected at {name}")
