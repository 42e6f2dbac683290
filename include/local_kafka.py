"""A Kafka broker on loopback for the tests of the compose stack's event path (MinIO notifies Kafka,
the DAG's asset watcher reads it): one KRaft node, broker and controller, from the jars
``scripts/kafka.sh`` fetches (the version of the compose file's ``apache/kafka`` image), its data in
a folder of its own, stopped by PID.

    with KafkaBroker(folder, log_path=...) as broker:
        broker.address   -> 127.0.0.1:<a free port>
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

from include.processes import HOST, ChildServer, ServerStartError, free_port, tcp_open

ROOT = Path(__file__).resolve().parents[1]
JARS = ROOT / "var" / "tools" / "kafka"
HEAP = "-Xmx256m"


class KafkaBroker(ChildServer):
    """One KRaft node (broker and controller) with its data in ``folder``; topics are made on first
    use, one partition each, no replica (a single node)."""

    name = "the Kafka broker"
    start_seconds = 60.0

    def __init__(self, folder: Path, port: int | None = None, log_path: Path | None = None) -> None:
        super().__init__(port, log_path)
        self.folder = folder
        self.properties = folder / "server.properties"

    def java(self, main_class: str, *arguments: str) -> list[str]:
        if not (JARS / ".pom.sha256").exists():
            raise ServerStartError(f"no Kafka jars in {JARS}: run scripts/kafka.sh (it fetches them)")
        return [shutil.which("java") or "java", HEAP, "-cp", f"{JARS}/*", main_class, *arguments]

    def prepare(self) -> None:
        """The node's settings and its formatted data folder (a cluster id of its own)."""
        controller = free_port()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{HOST}:{controller}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.folder / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        self.properties.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
        cluster = uuid.uuid4().hex[:22]
        formatted = subprocess.run(
            self.java("kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(self.properties)),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if formatted.returncode != 0:
            raise ServerStartError(
                f"kafka-storage format failed: {formatted.stdout[-500:]}{formatted.stderr[-500:]}"
            )

    def command(self) -> list[str]:
        return self.java("kafka.Kafka", str(self.properties))

    def answers(self) -> bool:
        return self.port is not None and tcp_open(self.port)
