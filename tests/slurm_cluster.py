"""A single-node SLURM cluster on this machine, for the profile test (Debian's slurmctld, slurmd,
munge; root, no systemd). Its own config, state, logs and ports in a temporary folder; the
daemons it starts are stopped by pid, even when the test fails."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
# Job steps inside a job (the executor's srun) drop SLURM_CONF and read the standard location,
# as on a real cluster; so the test cluster's config is installed there for its lifetime.
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
MARK = "# written by depthrefine's SLURM test; removed when it ends\n"
PARTITIONS = ("cpu", "gpu")  # the names profiles/slurm/config.yaml uses
# The node announces at least this much memory (config_overrides: Slurm believes the config, and
# nothing enforces memory without cgroups), so the profile's honest GPU-node request of 32 GB
# for training is accepted on a small CI machine.
NODE_MEMORY_MB = 64000


def missing_requirements() -> str | None:
    tools = ["slurmctld", "slurmd", "munged", "sbatch", "squeue", "scontrol", "sinfo"]
    missing = [t for t in tools if not (shutil.which(t) or os.path.exists(f"/usr/sbin/{t}"))]
    if missing:
        return (
            f"SLURM/munge not installed ({', '.join(missing)} missing; Debian: "
            "apt-get install slurmctld slurmd slurm-client munge)"
        )
    if os.geteuid() != 0:
        return "starting slurmd needs root"
    if SYSTEM_CONF.exists() and not SYSTEM_CONF.read_text().startswith(MARK):
        return f"{SYSTEM_CONF} exists (a real cluster's config is not replaced)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid(path: Path, timeout: float = 20.0) -> int:
    end = time.time() + timeout
    while time.time() < end:
        if path.is_file() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.2)
    raise RuntimeError(f"daemon did not write {path}")


def _munge_works() -> bool:
    try:
        cred = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
        return (
            cred.returncode == 0
            and subprocess.run(["unmunge"], input=cred.stdout, capture_output=True, timeout=10).returncode == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@contextmanager
def slurm_cluster(root: Path):
    """Yield the environment (SLURM_CONF) for clients of a fresh one-node cluster with a GPU GRES;
    its config lives in /etc/slurm for the cluster's lifetime, state and logs under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for d in ("state", "spool", "log"):
        (root / d).mkdir(exist_ok=True)
    host = socket.gethostname().split(".")[0]
    memory_mb = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20)
    real_memory_mb = max(memory_mb - 1024, NODE_MEMORY_MB)
    conf = SYSTEM_CONF
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        MARK
        + f"""ClusterName=depthrefine-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=3600
GresTypes=gpu
ReturnToService=2
MpiDefault=none
SlurmdParameters=config_overrides
NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={real_memory_mb} Gres=gpu:1 State=UNKNOWN
PartitionName={PARTITIONS[0]} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName={PARTITIONS[1]} Nodes=ALL MaxTime=INFINITE State=UP
"""
    )
    # A GPU GRES without a GPU: slurm only needs a device file to hand out; /dev/null stands in,
    # so a job asking for --gpus=1 is scheduled (and gets CUDA_VISIBLE_DEVICES=0).
    gres = conf.parent / "gres.conf"
    gres.write_text(MARK + f"AutoDetect=off\nNodeName={host} Name=gpu File=/dev/null Count=1\n")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    started: list[int] = []
    try:
        if not _munge_works():
            MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
            shutil.chown(MUNGE_SOCKET.parent, "munge", "munge")
            pidfile = MUNGE_SOCKET.parent / "munged-depthrefine-test.pid"  # munged runs as munge: its own folder
            subprocess.run(
                ["runuser", "-u", "munge", "--", "/usr/sbin/munged", f"--pid-file={pidfile}", "--force"],
                check=True,
                timeout=30,
            )
            started.append(_pid(pidfile))
        subprocess.run(["/usr/sbin/slurmctld", "-f", str(conf)], check=True, env=env, timeout=30)
        started.append(_pid(root / "slurmctld.pid"))
        subprocess.run(["/usr/sbin/slurmd", "-f", str(conf)], check=True, env=env, timeout=30)
        started.append(_pid(root / "slurmd.pid"))
        end = time.time() + 60
        while time.time() < end:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env).stdout.split()
            if state and all(s == "idle" for s in state):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(
                f"the test node did not become idle: {state}\n{(root / 'log/slurmctld.log').read_text()[-3000:]}"
            )
        yield env
    finally:
        subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True)
        for pid in reversed(started):
            _stop(pid)
        for path in (conf, gres):
            if path.exists() and path.read_text().startswith(MARK):
                path.unlink()
