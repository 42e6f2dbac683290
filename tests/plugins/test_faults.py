"""Fault points fire once, only when armed, and a paused one waits for its release."""

from __future__ import annotations

import threading

import pytest

from salesflow.faults import InjectedFault, fault_point


def test_an_unarmed_point_does_nothing_and_an_armed_one_fires_once(monkeypatch, tmp_path):
    monkeypatch.delenv("SALESFLOW_FAULT_DIR", raising=False)
    (tmp_path / "load").write_text("raise")
    fault_point("load")  # the folder is not set: off, whatever lies around
    monkeypatch.setenv("SALESFLOW_FAULT_DIR", str(tmp_path))
    fault_point("archive")  # not armed
    with pytest.raises(InjectedFault, match="fault injected at load"):
        fault_point("load")
    fault_point("load")  # fired once: the retry runs through
    assert list(tmp_path.iterdir()) == []


def test_a_paused_point_waits_for_its_release(monkeypatch, tmp_path):
    monkeypatch.setenv("SALESFLOW_FAULT_DIR", str(tmp_path))
    (tmp_path / "load").write_text("pause")
    finished = threading.Event()
    worker = threading.Thread(target=lambda: (fault_point("load"), finished.set()))
    worker.start()
    for _ in range(200):
        if (tmp_path / "load.reached").exists():
            break
        finished.wait(0.05)
    assert (tmp_path / "load.reached").exists() and not finished.is_set()
    (tmp_path / "load.release").touch()
    worker.join(timeout=10)
    assert finished.is_set()
