"""Time to a running swarm in the local lab: `swarmwiz deploy --lab --yes` for several sizes, and the old recipe's
way (terraform apply, then node by node over SSH, one after another) as the baseline swarmwiz must beat."""

from __future__ import annotations

import json
import logging
import os
import re
import resource
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import common

log = logging.getLogger(__name__)

SIZES = (1, 5, 20, 50)
REALTIME_SIZES = (5, 20)  # at time scale 1 (real boot durations) a deploy takes minutes: fewer sizes
BASELINE_SIZE = 5
ONCE_ABOVE = 20  # sizes above this are deployed once per variant: each such deploy takes minutes on 2 cores
# Variants of `swarmwiz deploy --lab`, each the environment it runs with. SWARMWIZ_LAB_TIME_SCALE is the lab's
# boot timeline (default 0.05; 1 = real durations); SWARMWIZ_SCHEDULING=barrier is the benchmark-only switch back
# to the old scheduling (all SSH, then all cloud-init, then all joins), read where the pipeline schedules nodes.
VARIANTS = {
    "default": {},
    "realtime": {"SWARMWIZ_LAB_TIME_SCALE": "1"},
    "realtime-barrier": {"SWARMWIZ_LAB_TIME_SCALE": "1", "SWARMWIZ_SCHEDULING": "barrier"},
    "barrier": {"SWARMWIZ_SCHEDULING": "barrier"},
}
DEPLOY_TIMEOUT_S = 900
PHASE_LINE = re.compile(r"^<== (?P<label>.+?) (?P<mark>\S+) \((?P<s>[0-9.]+)s\)")
SSH_OPTS = [  # the old recipe's client: no pinned host keys (swarmwiz pins them; here only lab hosts are reached)
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=5",
]


def shape(nodes: int) -> tuple[int, int]:
    """Managers and workers for a node count: 1 -> 1+0, otherwise 3 managers (a real quorum) and the rest workers."""
    return (1, 0) if nodes == 1 else (3, nodes - 3)


def cluster_toml(name: str, nodes: int, public_key: Path) -> str:
    managers, workers = shape(nodes)
    return f"""name = "{name}"
zones = ["fr-par-1"]
[managers]
count = {managers}
type = "DEV1-S"
[workers]
count = {workers}
type = "DEV1-S"
[dns]
domain = "example.com"
[ssh]
public_key = "{public_key}"
allowed_cidrs = ["0.0.0.0/0"]
"""


class LabRun:
    """One benchmark lab: a temporary SWARMWIZ_HOME (own lab, own workspaces) and an SSH key; cleaned at the end."""

    def __init__(self, root: Path, lab_env: dict[str, str] | None = None) -> None:
        self.root = root
        self.home = root / "home"
        self.key = root / "id_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "swarmwiz-bench", "-f", str(self.key)], check=True
        )
        # lab_env reaches the lab daemon too (it starts from this environment): the time scale is read there
        self.env = {**os.environ, **(lab_env or {}), "SWARMWIZ_HOME": str(self.home)}
        self._lab_env: dict[str, str] | None = None

    def swarmwiz(self, *args: str, timeout: float = DEPLOY_TIMEOUT_S) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*common.swarmwiz_argv(), *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def config(self, name: str, nodes: int) -> Path:
        path = self.root / f"{name}.toml"
        path.write_text(cluster_toml(name, nodes, self.key.with_suffix(".pub")))
        return path

    def warm_up(self) -> None:
        """Start the lab daemon and build its provider mirror, so the first timed deploy does not pay for it."""
        proc = self.swarmwiz("plan", "-c", str(self.config("warmup", 1)), "--lab")
        if proc.returncode != 0:
            raise RuntimeError(f"lab warm-up (swarmwiz plan --lab) failed: {_tail(proc)}")

    def deploy(self, name: str, nodes: int, variant: str = "default") -> dict:
        """`swarmwiz deploy --lab --yes` from a fresh workspace, timed; then destroyed (timed apart). Also: the CPU
        the client side used (swarmwiz, terraform, providers), how busy the machine was, and when the swarm
        bootstrap's steps happened (from the time each output line arrived); and the CPU the lab's own processes
        (API, hosts' sshd and dockerd) used, which a real cloud would not put on this machine."""
        cfg = self.config(name, nodes)
        cpu0, busy0 = resource.getrusage(resource.RUSAGE_CHILDREN), _cpu_busy()
        lab0 = common.cpu_by_pid(*self.lab_markers())
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [*common.swarmwiz_argv(), "deploy", "-c", str(cfg), "--lab", "--yes"],
            env={**self.env, **VARIANTS[variant]},
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stamped = []
        with _HostSampler() as host:
            for line in proc.stdout:
                stamped.append((time.monotonic() - t0, line.rstrip("\n")))
            err = proc.stderr.read()
            code = proc.wait(timeout=DEPLOY_TIMEOUT_S)
        took = time.monotonic() - t0
        cpu1, busy1 = resource.getrusage(resource.RUSAGE_CHILDREN), _cpu_busy()
        lab1 = common.cpu_by_pid(*self.lab_markers())
        stdout = "\n".join(text for _, text in stamped)
        # the barrier variant announces itself in the bootstrap's log: proof the switch was honoured
        scheduling = "barrier" if "barrier scheduling:" in stdout else "pipeline"
        out = {
            "nodes": nodes,
            "variant": variant,
            "scheduling": scheduling,
            "lab_time_scale": self.daemon_time_scale(),
            "ok": code == 0 and (scheduling == "barrier") == variant.endswith("barrier"),
            "deploy_s": round(took, 2),
            "phases_s": phases(stdout),
            "swarm_steps_s": swarm_steps(stamped),
            "client_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2),
            # the lab's side: API daemon, and each host's sshd, dockerd, containerd (still running: not destroyed)
            "lab_cpu_s": round(sum(c - lab0.get(p, 0.0) for p, c in lab1.items()), 2),
            "machine_busy_pct": round(100 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]), 1),
            # what a size that does not fit runs out of: memory, or CPU (run queue far above the 2 cores)
            "host_min_available_mb": host.min_available_mb,
            "host_max_load1": host.max_load1,
        }
        if code != 0:
            # the CLI's error sentence is on stderr; the stdout tail (joins still logging) would hide it
            out["error"] = (err.strip() or stdout)[-600:]
            out["run_log"] = self.keep_run_log(name)
        elif not out["ok"]:
            out["error"] = f"variant {variant} ran with {scheduling} scheduling (SWARMWIZ_SCHEDULING not honoured)"
        scale = VARIANTS[variant].get("SWARMWIZ_LAB_TIME_SCALE")
        if scale is not None and out["lab_time_scale"] != scale:
            out["ok"] = False  # the hosts booted on another scale: not this variant's figure
            out["error"] = f"the lab daemon runs with time scale {out['lab_time_scale'] or 'default'}, not {scale}"
        t0 = time.monotonic()
        gone = self.swarmwiz("destroy", name, "--lab", "--yes")
        out["destroy_s"] = round(time.monotonic() - t0, 2)
        if gone.returncode != 0:
            out["destroy_error"] = _tail(gone)
        else:
            # The next variant deploys under the same name: from a fresh workspace, as the first one did (a destroyed
            # workspace keeps its pinned host keys, which the new servers' keys would rightly contradict).
            shutil.rmtree(self.home / "clusters" / name, ignore_errors=True)
        return out

    def daemon_time_scale(self) -> str:
        """SWARMWIZ_LAB_TIME_SCALE as the running lab daemon sees it (its hosts boot on that scale); "" = default."""
        try:
            pid = json.loads((self.home / "lab" / "api.json").read_text())["pid"]
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except (OSError, ValueError, KeyError):
            return "?"
        return next((e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"SWARMWIZ_LAB_TIME_SCALE=")), "")

    def keep_run_log(self, name: str, keep: Path | None = None) -> str | None:
        """Copy the last deploy's run log of cluster `name` out of this benchmark's home, which is deleted when the
        benchmark ends: a failure's cause is then still there to read (a 20-node run at time scale 1 failed with
        three hosts that never published their host keys, and its log went with the temporary home)."""
        logs = sorted((self.home / "clusters" / name / "runs").glob("*-deploy.log"))
        if not logs:
            return None
        keep = keep or Path(tempfile.gettempdir()) / "swarmwiz-bench-failed"
        keep.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = keep / f"{name}-{logs[-1].name}"
        shutil.copy2(logs[-1], target)  # a run log is scrubbed of secrets and 0600; the copy keeps the mode
        return str(target)

    def lab_markers(self) -> list[str]:
        """Command-line fragments of this lab's processes: its state directory (API daemon, sshd) and its
        per-lab runtime directory (dockerd, containerd)."""
        markers = [str(self.home / "lab")]
        try:
            from swarmwiz.lab.hosts import lab_prefix

            markers.append(f"/swarmwiz-lab/{lab_prefix(self.home / 'lab')}/")
        except ImportError:
            pass
        return markers

    # -- the old recipe ----------------------------------------------------------------------------------------
    def lab_env(self) -> dict[str, str]:
        """The lab's variables for plain terraform (as `eval "$(swarmwiz lab env)"`); kept in memory only."""
        if self._lab_env is None:
            proc = self.swarmwiz("lab", "env", timeout=60)
            env = {}
            for line in proc.stdout.splitlines():
                parts = shlex.split(line)
                if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
                    k, v = parts[1].split("=", 1)
                    env[k] = v
            self._lab_env = env
        return {**self.env, **self._lab_env}

    def baseline(self, name: str, nodes: int = BASELINE_SIZE) -> dict:
        """terraform init + apply on the same module, then over SSH, strictly one node after another: wait for
        manager 1, `swarm init`, read the join tokens, then each node waits for SSH and joins in turn."""
        cfg = self.config(name, nodes)
        render = self.swarmwiz("plan", "-c", str(cfg), "--lab", "--offline")  # the recipe's files, written first
        if render.returncode != 0:
            return {"ok": False, "error": f"render: {_tail(render)}"}
        ws = self.home / "clusters" / name
        env = self.lab_env()
        steps: dict[str, float] = {}
        out: dict = {"nodes": nodes, "ok": False}
        t0 = time.monotonic()
        try:
            for step, argv in (
                ("init", ["terraform", "init", "-input=false", "-no-color"]),
                ("apply", ["terraform", "apply", "-auto-approve", "-input=false", "-no-color"]),
            ):
                s0 = time.monotonic()
                _check(subprocess.run(argv, cwd=ws, env=env, capture_output=True, text=True, timeout=600), step)
                steps[step] = round(time.monotonic() - s0, 2)
            s0 = time.monotonic()
            outputs = _check(
                subprocess.run(
                    ["terraform", "output", "-json", "nodes"],
                    cwd=ws,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                ),
                "output",
            )
            members = sorted(
                json.loads(outputs.stdout).values(),
                key=lambda n: (
                    n["role"] != "manager",
                    int(str(n["name"]).rsplit("-", 1)[-1]) if str(n["name"]).rsplit("-", 1)[-1].isdigit() else 0,
                ),
            )
            first, rest = members[0], members[1:]
            self._wait_ssh(first["public_ip"])
            self._ssh(first["public_ip"], f"docker swarm init --advertise-addr {first['private_ip']}")
            tokens = {
                role: self._ssh(first["public_ip"], f"docker swarm join-token -q {role}").strip()
                for role in ("manager", "worker")
            }
            for node in rest:
                self._wait_ssh(node["public_ip"])
                self._ssh(
                    node["public_ip"],
                    f"docker swarm join --token {tokens[node['role']]} "
                    f"--advertise-addr {node['private_ip']} {first['private_ip']}:2377",
                )
            steps["ssh"] = round(time.monotonic() - s0, 2)
            out["deploy_s"] = round(time.monotonic() - t0, 2)
            listed = self._ssh(first["public_ip"], "docker node ls --format '{{.Hostname}}'").split()
            out["ok"] = len(listed) == nodes
            if not out["ok"]:
                out["error"] = f"docker node ls shows {len(listed)} of {nodes} nodes"
        except (RuntimeError, subprocess.TimeoutExpired, KeyError, ValueError, IndexError) as exc:
            out["error"] = str(exc)[-400:]
        finally:
            out["steps_s"] = steps
            s0 = time.monotonic()
            gone = subprocess.run(
                ["terraform", "destroy", "-auto-approve", "-input=false", "-no-color"],
                cwd=ws,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            out["destroy_s"] = round(time.monotonic() - s0, 2)
            if gone.returncode != 0:
                out["destroy_error"] = gone.stderr[-300:]
        return out

    def _ssh(self, host: str, command: str, timeout: float = 120) -> str:
        argv = ["ssh", "-i", str(self.key), *SSH_OPTS, f"root@{host}", command]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"ssh {host}: {command.split(' --token')[0]}: {proc.stderr.strip()[-200:]}")
        return proc.stdout

    def _wait_ssh(self, host: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._ssh(host, "true", timeout=10)
                # lab hosts get Docker only at the end of cloud-init, as real servers do
                self._ssh(host, "cloud-init status --wait >/dev/null", timeout=max(10.0, deadline - time.monotonic()))
                return
            except (RuntimeError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def clean(self) -> list[str]:
        """`swarmwiz lab clean`, then the kernel objects (namespaces, links) of this lab that are still there."""
        self.swarmwiz("lab", "clean", timeout=300)
        try:
            from swarmwiz.lab.hosts import lab_prefix

            prefix = lab_prefix(self.home / "lab")
        except ImportError:
            return []
        names = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        names += subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return sorted({w.split("@")[0].rstrip(":") for w in names.split() if w.startswith(prefix)})


def swarm_steps(stamped: list[tuple[float, str]]) -> dict[str, float]:
    """Where the swarm bootstrap's time goes, from when its log lines appeared: before `swarm init` (SSH
    connections, docker info), init to the first join, the joins, and the last join to all Ready."""
    marks: dict[str, float] = {}
    for at, text in stamped:
        text = text.strip()
        if text.startswith("==> Bootstrap swarm"):
            marks["start"] = at
        elif "docker swarm init" in text or "already a manager" in text:
            marks.setdefault("init", at)
        elif ": joining as " in text:
            marks.setdefault("first_join", at)
        elif ": joined as " in text:
            marks["last_joined"] = at
        elif text.startswith("<== Bootstrap swarm"):
            marks["end"] = at
    out = {}
    for name, a, b in (
        ("connect_and_inspect", "start", "init"),
        ("init_and_tokens", "init", "first_join"),
        ("joins", "first_join", "last_joined"),
        ("after_joins_until_ready", "last_joined", "end"),
    ):
        if a in marks and b in marks:
            out[name] = round(marks[b] - marks[a], 2)
    return out


class _HostSampler:
    """Every 2 s while a deploy runs: the machine's available memory and 1-minute load average (min / max)."""

    def __init__(self) -> None:
        self.min_available_mb: int | None = None
        self.max_load1 = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-host-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            try:
                info = Path("/proc/meminfo").read_text()
                mb = next(int(line.split()[1]) // 1024 for line in info.splitlines() if line.startswith("MemAvailable"))
                self.min_available_mb = mb if self.min_available_mb is None else min(self.min_available_mb, mb)
            except (OSError, StopIteration, ValueError):
                pass
            self.max_load1 = round(max(self.max_load1, os.getloadavg()[0]), 2)
            if self._stop.wait(2.0):
                return

    def __enter__(self) -> _HostSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def phases(stdout: str) -> dict[str, float]:
    """Per-phase seconds from the CLI's `<== Phase ok (1.2s)` lines."""
    out: dict[str, float] = {}
    for line in stdout.splitlines():
        m = PHASE_LINE.match(line.strip())
        if m:
            out[m["label"]] = float(m["s"])
    return out


def _check(proc: subprocess.CompletedProcess, step: str) -> subprocess.CompletedProcess:
    if proc.returncode != 0:
        raise RuntimeError(f"terraform {step}: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return proc


def _tail(proc: subprocess.CompletedProcess) -> str:
    return ((proc.stderr or "") + (proc.stdout or "")).strip()[-400:]


def measure(
    sizes: tuple[int, ...] = SIZES,
    repeats: int = 3,
    big_repeats: int = 2,
    *,
    realtime_sizes: tuple[int, ...] = REALTIME_SIZES,
    barrier: bool = True,
    barrier_sizes: tuple[int, ...] | None = None,
    realtime_barrier_sizes: tuple[int, ...] = (),
    baseline: bool = True,
) -> dict:
    """Deploy each size `repeats` times (sizes above BASELINE_SIZE only `big_repeats` times: they take minutes),
    the barrier variant at the same sizes, and the baseline as often, interleaved so load drift hits all alike;
    then the real-time sizes once each. A size that fails (e.g. 50 hosts not fitting the machine) is recorded
    with its error in `lab_errors` and the larger sizes of that variant are skipped. `barrier_sizes` limits the
    barrier variant (default: every size); sizes above ONCE_ABOVE run once per variant."""
    runs: list[dict] = []
    baselines: list[dict] = []
    leftovers: list[str] = []
    errors: dict[str, str] = {}
    variants = ["default"] + (["barrier"] if barrier else [])
    barrier_sizes = tuple(sizes if barrier_sizes is None else barrier_sizes) if barrier else ()
    failed: dict[str, int] = {}  # variant -> smallest size that failed

    def one(variant: str, n: int, tag: str) -> None:
        if n >= failed.get(variant, n + 1):
            return
        # The same name for every variant of a size and round (deployed one after another): hostnames seed the
        # lab's boot timelines, so the variants compared get the same boots.
        run = lab.deploy(f"b{n}-{tag}", n, variant)
        runs.append(run)
        log.info("lab deploy %s %d nodes: %s", variant, n, run)
        if not run["ok"]:
            failed[variant] = n
            errors[f"{variant}:{n}"] = run.get("error", "failed")

    with tempfile.TemporaryDirectory(prefix="swarmwiz-bench-lab-") as tmp:
        lab = LabRun(Path(tmp))
        try:
            lab.warm_up()
            for r in range(repeats):
                for n in sorted(set(sizes) | set(barrier_sizes)):
                    if (n > BASELINE_SIZE and r >= big_repeats) or (n > ONCE_ABOVE and r >= 1):
                        continue
                    for variant in variants:
                        if n in (sizes if variant == "default" else barrier_sizes):
                            one(variant, n, f"r{r}")
                if baseline and BASELINE_SIZE in sizes:
                    baselines.append(lab.baseline(f"base{BASELINE_SIZE}-r{r}"))
                    log.info("baseline: %s", baselines[-1])
            # the largest size the default variant deployed (a size that did not fit the machine is not retried)
            big = max((n for n in sizes if n < failed.get("default", n + 1)), default=0)
            if baseline and big > BASELINE_SIZE:  # once, for the plot: how the sequential recipe itself scales
                baselines.append(lab.baseline(f"base{big}-r0", nodes=big))
                log.info("baseline %d nodes: %s", big, baselines[-1])
        except Exception as exc:  # the lab itself failed: report what we have
            error = f"{type(exc).__name__}: {exc}"[-600:]
            return {"lab_error": error, "lab_runs": runs, "lab_baseline_runs": baselines, "lab_errors": errors}
        finally:
            leftovers = lab.clean()
    if realtime_sizes or realtime_barrier_sizes:
        # The lab daemon reads the time scale when it starts: time scale 1 needs a lab of its own.
        with tempfile.TemporaryDirectory(prefix="swarmwiz-bench-lab-rt-") as tmp:
            lab = LabRun(Path(tmp), VARIANTS["realtime"])
            try:
                lab.warm_up()
                for n in sorted(set(realtime_sizes) | set(realtime_barrier_sizes)):
                    for variant in ("realtime", "realtime-barrier"):
                        if n in (realtime_sizes if variant == "realtime" else realtime_barrier_sizes):
                            one(variant, n, "r0")
            except Exception as exc:  # noqa: BLE001 - the real-time lab failed: the other figures still count
                errors["realtime:lab"] = f"{type(exc).__name__}: {exc}"[-600:]
            finally:
                leftovers += lab.clean()

    def medians(variant: str, ns) -> dict[str, float | None]:
        ok = [x for x in runs if x.get("variant", "default") == variant and x["ok"]]
        return {str(n): common.median([x["deploy_s"] for x in ok if x["nodes"] == n]) for n in ns}

    default = [x for x in runs if x.get("variant", "default") == "default"]
    base_ok = [b for b in baselines if b.get("ok")]
    return {
        "lab_deploy_s": medians("default", sizes),
        "lab_barrier_deploy_s": medians("barrier", barrier_sizes),
        "lab_realtime_deploy_s": medians("realtime", realtime_sizes),
        "lab_realtime_barrier_deploy_s": medians("realtime-barrier", realtime_barrier_sizes),
        # The fastest run of each size: on a shared machine, the one least disturbed by other work.
        "lab_deploy_min_s": {
            str(n): min((x["deploy_s"] for x in default if x["nodes"] == n and x["ok"]), default=None) for n in sizes
        },
        "lab_baseline_sequential_min_s": min(
            (b["deploy_s"] for b in base_ok if b["nodes"] == BASELINE_SIZE), default=None
        ),
        "lab_destroy_s": {str(n): common.median([x["destroy_s"] for x in default if x["nodes"] == n]) for n in sizes},
        "lab_baseline_sequential_s": common.median([b["deploy_s"] for b in base_ok if b["nodes"] == BASELINE_SIZE]),
        "lab_baseline_sequential_by_nodes_s": {
            str(n): common.median([b["deploy_s"] for b in base_ok if b["nodes"] == n])
            for n in sorted({b["nodes"] for b in baselines})
        },
        "lab_shapes": {str(n): dict(zip(("managers", "workers"), shape(n), strict=True)) for n in sizes},
        "lab_errors": errors,
        "lab_load_average": list(os.getloadavg()),
        "lab_runs": runs,
        "lab_baseline_runs": baselines,
        "lab_leftovers_after_clean": leftovers,
    }
