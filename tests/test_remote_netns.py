"""Two hosts, one link: a client and a team server in network namespaces of their own, the link cut mid-run.

The test makes both namespaces and the veth pair between them (``ip netns``, addresses
in 127.77.0.0/24 with ``route_localnet``: loopback-range only). The server host runs
PostgreSQL and ``lab server``; the client host runs a training script with
``LABBOOK_SERVER`` pointing across the link. The link goes down while the run logs and
comes back; ``lab sync`` then completes, and the server holds every point once.
Everything in a namespace is a real process started with ``ip netns exec``; the files
are on the filesystem both share, as a notebook on NFS would be.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labbook.service.notebook import Notebook

from .conftest import LAB, wait_for, write_script
from .postgres_server import postgres_server
from .test_remote import SCRIPT

SERVER_IP, CLIENT_IP = "127.77.0.1", "127.77.0.2"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=60)


def _can_make_namespaces() -> str | None:
    """Why this machine cannot run the test, or None."""
    if os.geteuid() != 0:
        return "making network namespaces needs root (ip netns add)"
    probe = subprocess.run(["ip", "netns", "add", f"lbprobe{os.getpid()}"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"ip netns add failed: {probe.stderr.strip()}"
    _ip("netns", "del", f"lbprobe{os.getpid()}")
    return None


@dataclass
class Hosts:
    server: str
    client: str
    server_link: str

    def run(self, ns: str, argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=300, **kw
        )  # type: ignore[call-overload]

    def cut(self) -> None:
        _ip("-n", self.server, "link", "set", self.server_link, "down")

    def restore(self) -> None:
        _ip("-n", self.server, "link", "set", self.server_link, "up")


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    reason = _can_make_namespaces()
    if reason is not None:
        pytest.skip(reason)
    tag = f"{os.getpid() % 100000}"
    server, client = f"lbsrv{tag}", f"lbcli{tag}"
    a, b = f"lbs{tag}", f"lbc{tag}"
    _ip("netns", "add", server)
    _ip("netns", "add", client)
    try:
        _ip("link", "add", a, "type", "veth", "peer", "name", b)
        _ip("link", "set", a, "netns", server)
        _ip("link", "set", b, "netns", client)
        for ns, dev, addr in ((server, a, SERVER_IP), (client, b, CLIENT_IP)):
            for key in ("all", dev):
                _ip("netns", "exec", ns, "sysctl", "-qw", f"net.ipv4.conf.{key}.route_localnet=1")
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield Hosts(server, client, a)
    finally:
        subprocess.run(["ip", "netns", "del", server], capture_output=True)
        subprocess.run(["ip", "netns", "del", client], capture_output=True)


HOLDS = """
import hashlib, json, sys
from pathlib import Path
from labbook.service.server import open_server
with open_server(sys.argv[1], Path(sys.argv[2])) as nb:
    print(json.dumps({
        run.uid: {k: [run.metrics[k].count, hashlib.sha256(nb.series(run, k).values.tobytes()).hexdigest()]
                  for k in run.metrics}
        for run in nb.list_runs()[0]
    }))
"""


def _local(project: Path) -> dict[str, dict[str, list[object]]]:
    import hashlib

    with Notebook.open(project) as nb:
        return {
            run.uid: {
                k: [run.metrics[k].count, hashlib.sha256(nb.series(run, k).values.tobytes()).hexdigest()]
                for k in run.metrics
            }
            for run in nb.list_runs()[0]
        }


def test_a_link_cut_mid_run_loses_nothing_once_synced(hosts: Hosts, project: Path, tmp_path: Path) -> None:
    files = tmp_path / "server-files"
    with postgres_server(netns=hosts.server) as pg:
        db = pg.url()
        migrated = hosts.run(hosts.server, [*LAB, "server", "migrate", "--db", db])
        assert migrated.returncode == 0, migrated.stderr
        made = hosts.run(hosts.server, [*LAB, "server", "token", "create", "far-node", "--db", db])
        token = made.stdout.strip()
        port = "8771"
        server = subprocess.Popen(
            ["ip", "netns", "exec", hosts.server, *LAB, "server", "--db", db, "--files", str(files),
             "--host", SERVER_IP, "--port", port],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            env = {**os.environ, "LABBOOK_SERVER": f"http://{SERVER_IP}:{port}", "LABBOOK_TOKEN": token}
            probe = "from labbook.tracking.remote import Client, configured; Client(configured(), timeout=2).info()"
            wait_for(lambda: hosts.run(hosts.client, [sys.executable, "-c", probe], env=env).returncode == 0,
                     label="the server to answer across the link")  # fmt: skip

            def held() -> dict[str, dict[str, list[object]]]:
                out = hosts.run(hosts.server, [sys.executable, "-c", HOLDS, db, str(files)])
                assert out.returncode == 0, out.stderr
                return dict(json.loads(out.stdout))

            script = write_script(project, "train.py", SCRIPT)
            half = project / "half"
            client = subprocess.Popen(
                ["ip", "netns", "exec", hosts.client, sys.executable, str(script), "30000", str(half)],
                cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            wait_for(half.exists, timeout=300, label="the run to log half its points")
            wait_for(
                lambda: any("loss" in r for r in held().values()), timeout=120, label="points across the link"
            )
            said: list[str] = []
            reader = threading.Thread(
                target=lambda: said.extend(iter(client.stderr.readline, "")), daemon=True
            )  # type: ignore[union-attr]
            reader.start()
            hosts.cut()
            before = next(iter(_local(project).values()))["loss"][0]
            wait_for(
                lambda: any("the run goes on here" in line for line in said),
                timeout=180,
                label="the client to find the server unreachable",
            )
            assert next(iter(_local(project).values()))["loss"][0] > before  # logging went on meanwhile
            hosts.restore()
            Path(str(half) + ".go").write_text("")
            client.wait(timeout=600)
            reader.join(timeout=60)
            assert client.returncode == 0, "".join(said)
            assert sum("the run goes on here" in line for line in said) == 1
            synced = hosts.run(hosts.client, [*LAB, "sync"], cwd=project, env=env)
            assert synced.returncode == 0, synced.stderr
            assert held() == _local(project)  # every point, once, bit for bit
        finally:
            server.terminate()
            server.wait(timeout=60)
