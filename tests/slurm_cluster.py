"""A real single-node Slurm cluster (Debian's slurm-wlm, munge, slurmdbd on MariaDB) for the tests.

Nothing is written to /etc/slurm: every client finds the cluster through ``SLURM_CONF``.
Daemons run in their own sessions and are stopped by PID, never by name, so a developer's
own cluster on the same machine is left alone. Facts this relies on (measured here):
munged refuses to run as root; there are no usable cgroups (proctrack/linuxproc,
task/none); the node is drained unless RealMemory is below what ``slurmd -C`` reports;
slurmdbd reads ``slurmdbd.conf`` from the directory of ``SLURM_CONF``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge", "slurmdbd", "mariadb-server"]
BINARIES = ["slurmctld", "slurmd", "sbatch", "sacct", "sacctmgr", "slurmdbd", "munged", "mariadbd"]


class ClusterError(RuntimeError):
    pass


def ensure_installed() -> None:
    """Install Debian's Slurm packages when they are missing and we may (root, apt-get)."""
    missing = [b for b in BINARIES if not _which(b)]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ClusterError(
            f"the Slurm tests need {', '.join(missing)}: as root, "
            f"apt-get install -y --no-install-recommends {' '.join(PACKAGES)}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], check=True, env=env
    )


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SlurmCluster:
    """Start with :meth:`start`, stop with :meth:`stop`; ``env`` is what clients need."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = socket.gethostname().split(".")[0]
        self.conf = root / "etc" / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf)}
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        ensure_installed()
        for d in ("etc", "state", "spool", "log", "db", "run"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        _start_munge()
        db_port, dbd_port = _free_port(), _free_port()
        self._start_mariadb(db_port)
        self._write_conf(dbd_port, db_port)
        self._spawn([_which("slurmdbd"), "-D"], "slurmdbd")
        self._wait(lambda: self._ok(["sacctmgr", "-n", "list", "cluster"]), "slurmdbd", 30)
        subprocess.run(["sacctmgr", "-i", "add", "cluster", "labbook"], env=self._env(), capture_output=True)
        self._spawn([_which("slurmctld"), "-D", "-c", "-f", str(self.conf)], "slurmctld")
        self._spawn([_which("slurmd"), "-D", "-f", str(self.conf), "-N", self.host], "slurmd")
        self._wait(self._idle, "the node to be idle", 40)

    def stop(self) -> None:
        if self._ok(["squeue", "-h"]):
            subprocess.run(["scancel", "--full", "-u", "root"], env=self._env(), capture_output=True)
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.time() + 10
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    # -- pieces --------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def _spawn(self, argv: list[str | None], name: str) -> None:
        log = open(self.root / "log" / f"{name}.out", "ab")
        proc = subprocess.Popen(
            [a for a in argv if a], stdout=log, stderr=log, env=self._env(), start_new_session=True
        )
        log.close()
        self.procs.append(proc)

    def _ok(self, argv: list[str]) -> bool:
        try:
            return subprocess.run(argv, env=self._env(), capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def _idle(self) -> bool:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self._env(), capture_output=True, text=True)
        return out.returncode == 0 and out.stdout.strip() == "idle"

    def _wait(self, ready: object, what: str, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ready():  # type: ignore[operator]
                return
            for proc in self.procs:
                if proc.poll() is not None:
                    raise ClusterError(f"{proc.args[0]} exited ({proc.returncode}); see {self.root / 'log'}")
            time.sleep(0.2)
        raise ClusterError(f"timed out waiting for {what}; see {self.root / 'log'}")

    def _start_mariadb(self, port: int) -> None:
        data, sock = self.root / "db", self.root / "run" / "mysqld.sock"
        subprocess.run(
            [_which("mariadb-install-db") or "mariadb-install-db", "--user=root", f"--datadir={data}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True,
        )  # fmt: skip
        self._spawn(
            [_which("mariadbd"), "--no-defaults", "--user=root", f"--datadir={data}", f"--socket={sock}",
             f"--port={port}", "--bind-address=127.0.0.1", f"--pid-file={self.root / 'run' / 'mysqld.pid'}"],
            "mariadb",
        )  # fmt: skip
        self._wait(lambda: _port_open(port), "MariaDB", 30)

    def _write_conf(self, dbd_port: int, db_port: int) -> None:
        r = self.root
        cpus, memory = _node_resources()
        self.conf.write_text(
            f"""ClusterName=labbook
SlurmctldHost={self.host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=cred_expire=10
StateSaveLocation={r / "state"}
SlurmdSpoolDir={r / "spool"}
SlurmctldPidFile={r / "run" / "slurmctld.pid"}
SlurmdPidFile={r / "run" / "slurmd.pid"}
SlurmctldLogFile={r / "log" / "slurmctld.log"}
SlurmdLogFile={r / "log" / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={dbd_port}
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
"""
        )
        dbd = self.conf.parent / "slurmdbd.conf"
        dbd.write_text(
            f"""AuthType=auth/munge
DbdHost={self.host}
DbdAddr=127.0.0.1
DbdPort={dbd_port}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={db_port}
StorageUser=root
StorageLoc=slurm_acct_db
PidFile={r / "run" / "slurmdbd.pid"}
LogFile={r / "log" / "slurmdbd.log"}
"""
        )
        dbd.chmod(0o600)


def _node_resources() -> tuple[int, int]:
    out = subprocess.run([_which("slurmd") or "slurmd", "-C"], capture_output=True, text=True).stdout
    fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
    return int(fields.get("CPUs", os.cpu_count() or 1)), int(int(fields["RealMemory"]) * 0.95)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_munge() -> None:
    """munged runs as the munge user; one already answering is reused."""
    if subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0:
        return
    run = Path("/run/munge")
    run.mkdir(parents=True, exist_ok=True)
    shutil.chown(run, "munge", "munge")
    if not Path("/etc/munge/munge.key").exists():
        subprocess.run(["mungekey", "--create"], check=True, capture_output=True)
        shutil.chown("/etc/munge/munge.key", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", _which("munged") or "munged"], check=True)
    deadline = time.time() + 10
    while subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode != 0:
        if time.time() > deadline:
            raise ClusterError("munged did not start")
        time.sleep(0.1)
