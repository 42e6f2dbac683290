"""Fault points armed from a test (``salesflow.faults``, through ``SALESFLOW_FAULT_DIR``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path


def arm(faults: Path, point: str, action: str = "raise") -> None:
    (faults / point).write_text(action)


class AtPause:
    """When a task reaches the paused fault point: run `during`, release the task, then `after`."""

    def __init__(self, faults: Path, point: str, during: Callable[[], None], after=None) -> None:
        arm(faults, point, "pause")
        self.errors: list[BaseException] = []
        self.fired = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(faults, point, during, after), daemon=True)
        self._thread.start()

    def _watch(self, faults: Path, point: str, during, after) -> None:
        reached = faults / f"{point}.reached"
        deadline = time.monotonic() + 900
        while not reached.exists():
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        try:
            during()
        except BaseException as error:  # re-raised in the test's thread by check()
            self.errors.append(error)
        finally:
            (faults / f"{point}.release").touch()
            self.fired.set()
        if after is not None:
            try:
                after()
            except BaseException as error:
                self.errors.append(error)

    def check(self) -> None:
        self._thread.join(timeout=180)
        assert self.fired.is_set(), "the paused fault point was never reached"
        if self.errors:
            raise self.errors[0]
