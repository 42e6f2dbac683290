"""Fault points: the places where the fault-injection tests make a task fail part-way.

Off unless ``SALESFLOW_FAULT_DIR`` is set (only the tests set it). A test arms a point by writing a
file named after it into that folder; the file's content says what happens when a task reaches it:

- ``raise`` (or empty): the task raises ``InjectedFault`` there, as any bug or lost service would;
- ``kill``: the process is killed with SIGKILL (no ``finally``, no rollback sent to MySQL);
- ``pause``: the point writes ``<name>.reached`` and waits (up to 10 minutes) for ``<name>.release``,
  so the test can break a service at exactly that moment and then let the task carry on.

A point fires once: its file is removed when it fires, so the retry runs through.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)

FAULT_DIR_ENV = "SALESFLOW_FAULT_DIR"
PAUSE_LIMIT_SECONDS = 600


class InjectedFault(RuntimeError):
    """Raised at an armed fault point."""


def fault_point(name: str) -> None:
    """Fire the fault armed for ``name``, if any (a no-op in normal runs)."""
    folder = os.environ.get(FAULT_DIR_ENV)
    if not folder:
        return
    armed = Path(folder) / name
    try:
        action = armed.read_text().strip() or "raise"
        armed.unlink()
    except FileNotFoundError:
        return
    log.warning("fault point %s: %s", name, action)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "pause":
        (Path(folder) / f"{name}.reached").touch()
        release = Path(folder) / f"{name}.release"
        deadline = time.monotonic() + PAUSE_LIMIT_SECONDS
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    else:
        raise InjectedFault(f"fault injected at {name}")
