"""Throwaway ZooKeeper for the replica tests (Debian's ``zookeeper`` package, 3.8).

A standalone server on 127.0.0.1 with all state under one directory, started as a plain
Java process (no service, no systemd), for ClickHouse 18.16's replicated tables, which
need ZooKeeper (18.16 has no ClickHouse Keeper)::

    with ZooKeeperServer(tmp_path / "zk") as zk:
        server = ClickHouseServer(..., zookeeper=zk.address, macros={...})
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tests.chserver import _die_with_parent, free_port

logger = logging.getLogger(__name__)

JAR = Path("/usr/share/java/zookeeper.jar")
MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


def find_zookeeper() -> Path | None:
    """The ZooKeeper jar and a java to run it, or None when either is missing."""
    return JAR if JAR.is_file() and shutil.which("java") else None


def _four_letter(port: int, word: bytes = b"ruok") -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(word)
            return sock.recv(64)
    except OSError:
        return b""


class ZooKeeperServer:
    """A standalone ZooKeeper owning ``base_dir`` on a free loopback port."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self, timeout: float = 30.0) -> ZooKeeperServer:
        if find_zookeeper() is None:
            raise RuntimeError("ZooKeeper is not installed (apt-get install zookeeper)")
        data = self.base_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        (self.base_dir / "zoo.cfg").write_text(
            f"tickTime=500\ndataDir={data}\nclientPort={self.port}\nclientPortAddress=127.0.0.1\n"
            "admin.enableServer=false\nmaxClientCnxns=0\n4lw.commands.whitelist=ruok\n")
        (self.base_dir / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, F\nlog4j.appender.F=org.apache.log4j.FileAppender\n"
            f"log4j.appender.F.File={self.base_dir / 'zookeeper.log'}\n"
            "log4j.appender.F.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.F.layout.ConversionPattern=%d %p %c: %m%n\n")
        with open(self.base_dir / "console.log", "wb") as console:
            self._process = subprocess.Popen(
                ["java", "-Xmx256m", "-cp", f"{self.base_dir}:{JAR}", MAIN, str(self.base_dir / "zoo.cfg")],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent, env={**os.environ, "JAVA_TOOL_OPTIONS": ""})
        deadline = time.monotonic() + timeout
        while _four_letter(self.port) != b"imok":
            if self._process.poll() is not None or time.monotonic() > deadline:
                tail = (self.base_dir / "console.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"ZooKeeper did not start on port {self.port}:\n{tail}")
            time.sleep(0.1)
        logger.info("zookeeper up on 127.0.0.1:%d", self.port)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> ZooKeeperServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
