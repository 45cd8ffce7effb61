"""Lab hosts: network namespaces with their own hostname, a real sshd and a real dockerd, on lab bridges."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import hashlib
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from swarmwiz.core.paths import atomic_write

log = logging.getLogger(__name__)

# Runtime state shared by every lab on this machine. dockerd's exec-root and data-root live here, not under
# the lab directory: unix socket paths are limited to 107 bytes (containerd nests its sockets deep under the
# exec-root), and dockerd bind-mounts its data-root onto itself, which would make `rm -rf <lab dir>` stop
# half-way and leave mounts behind at paths that move when a test framework renames old tmp dirs. A registry
# of labs (lab.json) lets one lab remove the kernel objects of another whose state directory was deleted.
RUN_ROOT = Path("/run/swarmwiz-lab")
NETNS_DIR = Path("/var/run/netns")
FW_TABLE = "swarmwiz_fw"
STATE_FILE = "net.json"
# Where free /24s for the public bridge are looked for (second and third octet); a hash of the lab picks
# the starting point so that parallel labs rarely race for the same one.
_CANDIDATE_SECOND_OCTETS = range(200, 255)

_REQUIRED_COMMANDS = {
    "ip": "iproute2",
    "nft": "nftables",
    "sshd": "openssh-server",
    "dockerd": "docker.io",
    "docker": "docker.io",  # the CLI that SSH sessions on a lab host use
    "nsenter": "util-linux",
    "unshare": "util-linux",
}
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")

_HOST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_PORT_RANGE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


class LabHostError(RuntimeError):
    """A lab host could not be created, changed or removed; the message says which and why."""


@dataclass
class FirewallRule:
    """One security-group rule for inbound traffic on the public side, as Scaleway models it."""

    action: str = "accept"  # "accept" | "drop"
    protocol: str = "TCP"  # "TCP" | "UDP" | "ICMP" | "ANY"
    port: int | None = None
    port_range: str | None = None  # "from-to"
    ip_range: str | None = None  # source CIDR; None or 0.0.0.0/0 means any


@dataclass
class Firewall:
    """Inbound filtering of a host's public interface (the private NICs are never filtered, as on Scaleway)."""

    inbound_default_policy: str = "accept"  # "accept" | "drop"
    stateful: bool = True
    rules: list[FirewallRule] = field(default_factory=list)


@dataclass
class HostSpec:
    """Everything the lab needs to start one server; private_nics are (private_network_id, address, prefixlen)."""

    host_id: str
    hostname: str
    public_ip: str | None
    private_nics: list[tuple[str, str, int]] = field(default_factory=list)
    authorized_keys: list[str] = field(default_factory=list)
    host_key_private: str | None = None
    host_key_public: str | None = None
    firewall: Firewall = field(default_factory=Firewall)


def check_prerequisites() -> list[str]:
    """What this machine lacks to run lab hosts, one item each ("root privileges", "sshd (openssh-server)")."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root privileges")
    for command, package in _REQUIRED_COMMANDS.items():
        if not _which(command):
            missing.append(f"{command} (Debian package {package})")
    return missing


def lab_prefix(lab_dir: Path) -> str:
    """The per-lab prefix of every kernel object: short enough that "<prefix><n>e<k>" fits IFNAMSIZ (15)."""
    return "sw" + hashlib.sha256(str(Path(lab_dir).resolve()).encode()).hexdigest()[:6]


def clean_stale(lab_dir: Path) -> None:
    """Remove every kernel object, process and mount of the lab at `lab_dir`, even with its state lost."""
    LabNet(lab_dir).clean()


def clean_orphans() -> list[str]:
    """Clean labs whose state was deleted (say, with their tmp dir); returns their lab dirs.

    Deleting a lab directory does not stop its daemons, and leaves dockerd's data-root mounts behind (so
    `rm -rf` stops half-way): a lab is orphaned when its registry entry remains but its state file is gone.
    """
    cleaned = []
    if not RUN_ROOT.is_dir():
        return cleaned
    for entry in sorted(RUN_ROOT.glob("sw*/lab.json")):
        try:
            lab_dir = Path(json.loads(entry.read_text())["lab_dir"])
        except (OSError, ValueError, KeyError):
            continue
        if entry.parent.name != lab_prefix(lab_dir):
            continue
        net = LabNet(lab_dir, _create_dir=False)
        try:
            # The state file is written under this lock, so the check cannot race an ensure(); a lab whose
            # lock is held is in use, hence not orphaned: skip it rather than wait.
            with net._locked(blocking=False):
                if entry.exists() and not (lab_dir / STATE_FILE).exists():
                    log.info("removing orphaned lab objects of %s", lab_dir)
                    net.clean()
                    cleaned.append(str(lab_dir))
        except BlockingIOError:
            continue
    return cleaned


# One lock per lab directory inside this process (the lab API serves requests from threads); an flock on a
# file under the lab directory extends it to other processes (the CLI's `lab clean`, a second test run).
_THREAD_LOCKS: dict[str, threading.RLock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()
_LOCK_DEPTH: dict[str, int] = {}  # read and written only by the thread holding that lab's RLock


class LabNet:
    """The lab's network: a public bridge with a gateway, one bridge per private network, and the hosts."""

    def __init__(self, lab_dir: Path, *, _create_dir: bool = True) -> None:
        self.lab_dir = Path(lab_dir).resolve()
        self.prefix = lab_prefix(self.lab_dir)
        self.run_dir = RUN_ROOT / self.prefix
        self.public_bridge = f"{self.prefix}pub"
        self._create_dir = _create_dir
        with _THREAD_LOCKS_GUARD:
            self._thread_lock = _THREAD_LOCKS.setdefault(str(self.lab_dir), threading.RLock())

    # ----- public interface -------------------------------------------------------------------------------

    @property
    def public_subnet(self) -> ipaddress.IPv4Network:
        """The /24 of the public bridge (chosen on the first ensure(), then persisted)."""
        subnet = self._load().get("public_subnet")
        if not subnet:
            raise LabHostError("the lab network is not set up yet; call ensure() first")
        return ipaddress.IPv4Network(subnet)

    @property
    def public_gateway(self) -> ipaddress.IPv4Address:
        """The root namespace's address on the public bridge: the hosts' default gateway."""
        return next(self.public_subnet.hosts())

    def ensure(self) -> None:
        """Bring the public bridge up with its gateway address; remove stale objects of this lab (and of labs
        whose directory was deleted). Idempotent."""
        try:
            clean_orphans()
        except (OSError, LabHostError) as exc:  # another lab's mess must not stop this one
            log.warning("could not clean orphaned labs: %s", exc)
        with self._locked() as state:
            self._remove_stale(state)
            subnet = state.get("public_subnet")
            if subnet and self._bridge_ready(ipaddress.IPv4Network(subnet)):
                self._save(state)
                return  # the common case (called before every create): one `ip` run, nothing changed
            with _global_lock():
                if not subnet or _subnet_in_use(ipaddress.IPv4Network(subnet), ignore_links={self.public_bridge}):
                    subnet = str(self._pick_subnet())
                state["public_subnet"] = subnet
                self._save(state)  # before the registry entry: an entry without state means "orphaned"
                self.run_dir.mkdir(parents=True, exist_ok=True)
                _write_json(self.run_dir / "lab.json", {"lab_dir": str(self.lab_dir), "public_subnet": subnet})
                net = ipaddress.IPv4Network(subnet)
                gateway = next(net.hosts())
                _ip("link", "add", self.public_bridge, "type", "bridge", check=False)
                _ip("addr", "replace", f"{gateway}/{net.prefixlen}", "dev", self.public_bridge)
                _ip("link", "set", self.public_bridge, "up")
            self._save(state)

    def create_host(self, spec: HostSpec, *, wait_docker: bool = True) -> None:
        """Start a host: namespace, NICs, firewall, sshd and dockerd; returns once sshd listens and (unless
        `wait_docker` is false) dockerd answers. Safe to call from several threads at once."""
        _validate_spec(spec)
        started = time.monotonic()
        if spec.host_key_private is None:  # generated outside the lock: other hosts need not wait for it
            from swarmwiz.core.hostkeys import generate_host_key

            private_key, public_key = generate_host_key()
            spec = dataclasses.replace(spec, host_key_private=private_key, host_key_public=public_key)
        with self._locked() as state:
            if "public_subnet" not in state:
                raise LabHostError("the lab network is not set up yet; call ensure() first")
            if spec.host_id in state["hosts"]:
                raise LabHostError(f"lab host {spec.host_id} already exists")
            self._check_addresses(state, spec)
            index = state["next_index"]
            state["next_index"] = index + 1
            host = {
                "index": index,
                "netns": f"{self.prefix}-h{index}",
                "hostname": spec.hostname,
                "public_ip": spec.public_ip,
                "nics": [],
            }
            for nic, (network_id, address, prefixlen) in enumerate(spec.private_nics, start=1):
                if network_id not in state["networks"]:
                    state["networks"][network_id] = state["next_network"]
                    state["next_network"] += 1
                host["nics"].append([network_id, address, prefixlen, f"{self.prefix}{index}e{nic}"])
            state["hosts"][spec.host_id] = host
            # Saved before touching the kernel, so a crash half-way leaves objects that clean() knows about.
            self._save(state)
            try:
                self._write_host_files(spec, host)
                self._plumb(state, host)
                _apply_firewall(host["netns"], spec.firewall)
            except BaseException:
                self._remove_hosts(state, [spec.host_id])
                self._save(state)
                raise
        try:
            self._start_daemons(spec, host, wait_docker=wait_docker)
        except BaseException:
            self.delete_host(spec.host_id)
            raise
        log.info("lab host %s (%s) up in %.2fs", spec.host_id, spec.hostname, time.monotonic() - started)

    def update_firewall(self, host_id: str, firewall: Firewall) -> None:
        """Replace a host's public-side rules atomically (one nft transaction)."""
        _validate_firewall(firewall)
        with self._locked() as state:
            host = self._host(state, host_id)
            _apply_firewall(host["netns"], firewall)

    def delete_host(self, host_id: str) -> None:
        """Stop a host's daemons and remove its mounts, namespace, NICs and directories. Missing is fine."""
        with self._locked() as state:
            host = state["hosts"].get(host_id)
        if host is None:
            return
        # Stopping dockerd can take seconds (longer after a quorum loss): do it without holding the lock, so
        # that the other hosts of a parallel destroy are not queued behind this one.
        self._kill(host)
        with self._locked() as state:
            if host_id in state["hosts"]:
                self._remove_hosts(state, [host_id])
                self._save(state)

    def hosts(self) -> list[str]:
        """Ids of the hosts this lab runs."""
        return list(self._load()["hosts"])

    def host_dir(self, host_id: str) -> Path:
        """The host's state directory (sshd config, host key, authorized_keys, logs; links to docker's data)."""
        return self.lab_dir / "hosts" / host_id

    def netns(self, host_id: str) -> str:
        """The name of the host's network namespace (for `nsenter --net=/var/run/netns/<name>`)."""
        return self._host(self._load(), host_id)["netns"]

    def docker_host(self, host_id: str) -> str:
        """The DOCKER_HOST of a host's dockerd (as set in its SSH sessions)."""
        return f"unix://{self._run_dir(self._host(self._load(), host_id))}/docker.sock"

    def clean(self) -> None:
        """Remove everything of this lab: processes, mounts, namespaces, veths, bridges, dirs. Safe to repeat."""
        with self._locked() as state:
            self._remove_hosts(state, list(state["hosts"]))
            self._remove_stale(state)
            for name in _links_with_prefix(self.prefix):
                _ip("link", "del", name, check=False)
            _umount_under([self.run_dir, self.lab_dir / "hosts"])
            shutil.rmtree(self.run_dir, ignore_errors=True)
            shutil.rmtree(self.lab_dir / "hosts", ignore_errors=True)
            with contextlib.suppress(OSError):
                (self.lab_dir / STATE_FILE).unlink()

    # ----- state ------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, *, blocking: bool = True) -> Iterator[dict]:
        """This lab's state under its lock (threads and processes); BlockingIOError if busy and not blocking."""
        if not self._thread_lock.acquire(blocking=blocking):
            raise BlockingIOError(f"lab {self.lab_dir} is busy")
        key = str(self.lab_dir)
        try:
            if _LOCK_DEPTH.get(key):  # re-entered by the thread that holds it (a second flock would deadlock)
                _LOCK_DEPTH[key] += 1
                try:
                    yield self._load()
                finally:
                    _LOCK_DEPTH[key] -= 1
                return
            if self._create_dir:
                self.lab_dir.mkdir(parents=True, exist_ok=True)
            lock_dir = self.lab_dir if self.lab_dir.is_dir() else self._ensure_run_dir()
            with open(lock_dir / "net.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
                _LOCK_DEPTH[key] = 1
                try:
                    yield self._load()
                finally:
                    _LOCK_DEPTH[key] = 0
                    fcntl.flock(lock, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def _ensure_run_dir(self) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return self.run_dir

    def _load(self) -> dict:
        try:
            state = json.loads((self.lab_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return _empty_state()
        return {**_empty_state(), **state}

    def _save(self, state: dict) -> None:
        if self.lab_dir.is_dir():
            _write_json(self.lab_dir / STATE_FILE, state)

    def _host(self, state: dict, host_id: str) -> dict:
        try:
            return state["hosts"][host_id]
        except KeyError:
            raise LabHostError(f"no lab host {host_id}") from None

    def _run_dir(self, host: dict) -> Path:
        return self.run_dir / f"h{host['index']}"

    def _bridge(self, state: dict, network_id: str) -> str:
        return f"{self.prefix}n{state['networks'][network_id]}"

    def _bridge_ready(self, subnet: ipaddress.IPv4Network) -> bool:
        """Whether the public bridge is up with the gateway address and nothing else claims the subnet."""
        gateway = f"{next(subnet.hosts())}/{subnet.prefixlen}"
        result = _ip("-j", "-4", "addr", check=False)
        ready = False
        with contextlib.suppress(ValueError, KeyError):
            for item in json.loads(result.stdout or "[]"):
                addresses = [f"{a['local']}/{a['prefixlen']}" for a in item.get("addr_info", [])]
                if item.get("ifname") == self.public_bridge:
                    ready = gateway in addresses and "UP" in item.get("flags", [])
                elif any(ipaddress.IPv4Network(a, strict=False).overlaps(subnet) for a in addresses):
                    return False
        return ready

    def _check_addresses(self, state: dict, spec: HostSpec) -> None:
        if spec.public_ip is not None:
            address = ipaddress.IPv4Address(spec.public_ip)
            subnet = ipaddress.IPv4Network(state["public_subnet"])
            if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
                raise LabHostError(f"public IP {address} is not a host address of the lab's subnet {subnet}")
            if address == next(subnet.hosts()):
                raise LabHostError(f"public IP {address} is the lab's gateway")
        used = {h["public_ip"] for h in state["hosts"].values()}
        used |= {(n[0], n[1]) for h in state["hosts"].values() for n in h["nics"]}
        if spec.public_ip is not None and spec.public_ip in used:
            raise LabHostError(f"public IP {spec.public_ip} is already used by another lab host")
        for network_id, address, _ in spec.private_nics:
            if (network_id, address) in used:
                raise LabHostError(f"private IP {address} is already used on private network {network_id}")

    def _pick_subnet(self) -> ipaddress.IPv4Network:
        taken = []
        for entry in RUN_ROOT.glob("sw*/lab.json"):
            if entry.parent.name == self.prefix:
                continue
            with contextlib.suppress(OSError, ValueError, KeyError):
                taken.append(ipaddress.IPv4Network(json.loads(entry.read_text())["public_subnet"]))
        in_use = _networks_in_use() + taken
        start = int(self.prefix[2:], 16)
        candidates = [ipaddress.IPv4Network(f"10.{a}.{b}.0/24") for a in _CANDIDATE_SECOND_OCTETS for b in range(256)]
        for offset in range(len(candidates)):
            candidate = candidates[(start + offset) % len(candidates)]
            if not any(candidate.overlaps(net) for net in in_use):
                return candidate
        raise LabHostError("no free /24 left in 10.200.0.0-10.254.255.0 for the lab's public bridge")

    # ----- kernel objects ---------------------------------------------------------------------------------

    def _write_host_files(self, spec: HostSpec, host: dict) -> None:
        directory = self.host_dir(spec.host_id)
        run_dir = self._run_dir(host)
        shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
        directory.mkdir(parents=True)
        run_dir.mkdir(parents=True)
        private_key, public_key = spec.host_key_private or "", spec.host_key_public
        key_path = directory / "ssh_host_ed25519_key"
        _write_private(key_path, private_key.strip() + "\n")
        if public_key:
            (directory / "ssh_host_ed25519_key.pub").write_text(public_key.strip() + "\n")
        _write_private(directory / "authorized_keys", "".join(k.strip() + "\n" for k in spec.authorized_keys))
        listen = [spec.public_ip] if spec.public_ip else []
        listen += [address for _, address, _ in spec.private_nics]
        lines = [f"ListenAddress {address}" for address in listen] + [
            f"HostKey {key_path}",
            f"PidFile {run_dir}/sshd.pid",
            f"AuthorizedKeysFile {directory}/authorized_keys",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            # Host files live under a tmp dir in tests; ownership checks there would refuse every login.
            "StrictModes no",
            "PrintMotd no",
            "AcceptEnv LANG LC_*",
            f"SetEnv DOCKER_HOST=unix://{run_dir}/docker.sock",
            "Subsystem sftp internal-sftp",
        ]
        (directory / "sshd_config").write_text("\n".join(lines) + "\n")
        # dockerd's socket and data live in the run dir (see RUN_ROOT); links make them easy to find.
        for name, target in (("docker.sock", "docker.sock"), ("docker", "data")):
            with contextlib.suppress(OSError):
                (directory / name).symlink_to(run_dir / target)

    def _plumb(self, state: dict, host: dict) -> None:
        # Two `ip -batch` runs (root namespace, then inside the host's) instead of one process per command.
        netns = host["netns"]
        outside = [f"netns add {netns}"]
        inside = ["link set lo up"]
        if host["public_ip"]:
            veth = f"{self.prefix}{host['index']}e0"
            subnet = ipaddress.IPv4Network(state["public_subnet"])
            outside += [
                f"link add {veth} type veth peer name eth0 netns {netns}",
                f"link set {veth} master {self.public_bridge} up",
            ]
            inside += [
                f"addr add {host['public_ip']}/{subnet.prefixlen} dev eth0",
                "link set eth0 up",
                f"route add default via {next(subnet.hosts())}",
            ]
        for nic, (network_id, address, prefixlen, veth) in enumerate(host["nics"], start=1):
            bridge = self._bridge(state, network_id)
            if not _link_exists(bridge):
                outside += [f"link add {bridge} type bridge", f"link set {bridge} up"]
            outside += [
                f"link add {veth} type veth peer name eth{nic} netns {netns}",
                f"link set {veth} master {bridge} up",
            ]
            inside += [f"addr add {address}/{int(prefixlen)} dev eth{nic}", f"link set eth{nic} up"]
        _ip_batch(outside)
        _ip_batch(inside, netns=netns)

    def _start_daemons(self, spec: HostSpec, host: dict, *, wait_docker: bool) -> None:
        directory = self.host_dir(spec.host_id)
        run_dir = self._run_dir(host)
        sshd, dockerd = _which("sshd"), _which("dockerd")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        # One UTS namespace for both daemons: SSH sessions and the swarm node both see the host's name.
        # dockerd is started through nsenter, never `ip netns exec` (it remounts /sys and dockerd then dies
        # with "Devices cgroup isn't mounted"); the shell exits at once so both daemons are re-parented.
        script = (
            'hostname "$1" && "$2" -f "$3/sshd_config" -E "$3/sshd.log" && '
            '{ "$4" --data-root "$5/data" --exec-root "$5/exec" -H "unix://$5/docker.sock" '
            '--pidfile "$5/docker.pid" --iptables=false --bridge=none --storage-driver=vfs '
            '>"$3/dockerd.log" 2>&1 </dev/null & }'
        )
        argv = [
            "nsenter",
            f"--net={NETNS_DIR / host['netns']}",
            "unshare",
            "--uts",
            "sh",
            "-c",
            script,
            "sh",
            spec.hostname,
            sshd,
            str(directory),
            dockerd,
            str(run_dir),
        ]
        result = subprocess.run(argv, capture_output=True, text=True, start_new_session=True, timeout=30)
        if result.returncode != 0:
            raise LabHostError(
                f"lab host {spec.host_id}: starting sshd failed: {result.stderr.strip()[-300:]}"
                f" {_tail(directory / 'sshd.log')}"
            )
        deadline = time.monotonic() + 30
        # sshd writes its pid file only after it listens; dockerd answers /_ping once its API is up.
        while not (run_dir / "sshd.pid").exists():
            if time.monotonic() > deadline:
                raise LabHostError(
                    f"lab host {spec.host_id}: timed out after 30s waiting for sshd to listen "
                    f"{_tail(directory / 'sshd.log')}"
                )
            time.sleep(0.01)
        while wait_docker and not _docker_ping(run_dir / "docker.sock"):
            if time.monotonic() > deadline:
                raise LabHostError(
                    f"lab host {spec.host_id}: timed out after 30s waiting for dockerd to answer "
                    f"{_tail(directory / 'dockerd.log')}"
                )
            time.sleep(0.02)

    def _remove_hosts(self, state: dict, host_ids: list[str]) -> None:
        hosts = [(host_id, state["hosts"][host_id]) for host_id in host_ids if host_id in state["hosts"]]
        if not hosts:
            return
        self._kill(*(h for _, h in hosts))
        dirs = [self.host_dir(host_id) for host_id, _ in hosts] + [self._run_dir(h) for _, h in hosts]
        _umount_under(dirs)
        for host_id, host in hosts:
            _ip("netns", "del", host["netns"], check=False)
            for veth in [f"{self.prefix}{host['index']}e0"] + [n[3] for n in host["nics"]]:
                if _link_exists(veth):
                    _ip("link", "del", veth, check=False)
            del state["hosts"][host_id]
        for directory in dirs:
            shutil.rmtree(directory, ignore_errors=True)
        # A private network's bridge goes with its last host.
        in_use = {n[0] for h in state["hosts"].values() for n in h["nics"]}
        for network_id in [n for n in state["networks"] if n not in in_use]:
            _ip("link", "del", self._bridge(state, network_id), check=False)
            del state["networks"][network_id]

    def _kill(self, *hosts: dict) -> None:
        _kill_processes(
            netns=[h["netns"] for h in hosts],
            pidfiles=[self._run_dir(h) / name for h in hosts for name in ("docker.pid", "sshd.pid")],
            markers=[str(self.lab_dir), str(self.run_dir)],
        )

    def _remove_stale(self, state: dict) -> None:
        """Objects with this lab's prefix that its state does not know, and hosts whose namespace vanished."""
        known_netns = {h["netns"] for h in state["hosts"].values()}
        stale_netns = [n for n in _netns_with_prefix(self.prefix) if n not in known_netns]
        for host_id, host in list(state["hosts"].items()):
            if not (NETNS_DIR / host["netns"]).exists():
                log.warning("lab host %s lost its namespace (reboot or manual cleanup); forgetting it", host_id)
                self._remove_hosts(state, [host_id])
        if stale_netns:
            log.warning("removing stale lab namespaces %s", ", ".join(stale_netns))
            _kill_processes(netns=stale_netns, pidfiles=[], markers=[])
        known_dirs = {f"h{h['index']}" for h in state["hosts"].values()}
        stale_dirs = [p for p in self.run_dir.glob("h*") if p.name not in known_dirs]
        known_ids = set(state["hosts"])
        hosts_dir = self.lab_dir / "hosts"
        stale_dirs += [p for p in hosts_dir.glob("*") if p.name not in known_ids] if hosts_dir.is_dir() else []
        _umount_under(stale_dirs)
        for name in stale_netns:
            _ip("netns", "del", name, check=False)
        known_links = {self.public_bridge} | {self._bridge(state, n) for n in state["networks"]}
        known_links |= {f"{self.prefix}{h['index']}e0" for h in state["hosts"].values()}
        known_links |= {n[3] for h in state["hosts"].values() for n in h["nics"]}
        for name in _links_with_prefix(self.prefix):
            if name not in known_links:
                _ip("link", "del", name, check=False)
        for directory in stale_dirs:
            shutil.rmtree(directory, ignore_errors=True)


# ----- helpers --------------------------------------------------------------------------------------------


def _empty_state() -> dict:
    return {"version": 1, "hosts": {}, "networks": {}, "next_index": 1, "next_network": 1}


def _which(command: str) -> str | None:
    return shutil.which(command) or shutil.which(command, path=os.pathsep.join(_SBIN))


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([_which("ip") or "ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise LabHostError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result


def _ip_batch(commands: list[str], *, netns: str | None = None) -> None:
    args = [_which("ip") or "ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    result = subprocess.run(args, input="\n".join(commands) + "\n", capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise LabHostError(f"`ip{' -n ' + netns if netns else ''}` failed: {result.stderr.strip()[-300:]}")


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _links_with_prefix(prefix: str) -> list[str]:
    # veths ("<prefix><n>e<k>") before bridges, so a bridge is deleted without ports.
    names = [p.name for p in Path("/sys/class/net").iterdir() if p.name.startswith(prefix)]
    return sorted(names, key=lambda n: (not n[len(prefix) :][:1].isdigit(), n))


def _netns_with_prefix(prefix: str) -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix + "-"))


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the root namespace has an address in or a route to."""
    networks = []
    for args in (["-j", "-4", "addr"], ["-j", "-4", "route", "show", "table", "all"]):
        result = _ip(*args, check=False)
        with contextlib.suppress(ValueError):
            for item in json.loads(result.stdout or "[]"):
                for info in item.get("addr_info", []):
                    networks.append(ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False))
                dst = item.get("dst")
                if dst and dst != "default" and item.get("type", "unicast") == "unicast":
                    with contextlib.suppress(ValueError):
                        networks.append(ipaddress.IPv4Network(dst if "/" in dst else f"{dst}/32", strict=False))
    return networks


def _subnet_in_use(subnet: ipaddress.IPv4Network, *, ignore_links: set[str]) -> bool:
    result = _ip("-j", "-4", "addr", check=False)
    with contextlib.suppress(ValueError):
        for item in json.loads(result.stdout or "[]"):
            if item.get("ifname") in ignore_links:
                continue
            for info in item.get("addr_info", []):
                if ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False).overlaps(subnet):
                    return True
    return False


@contextlib.contextmanager
def _global_lock() -> Iterator[None]:
    """Serialises subnet choice between labs on this machine."""
    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    with open(RUN_ROOT / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True))


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _tail(path: Path, chars: int = 400) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return f"(log {path.name}: ...{text[-chars:]})" if text else ""


def _docker_ping(sock_path: Path) -> bool:
    if not sock_path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(str(sock_path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(4096)
        except OSError:
            return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


def _validate_spec(spec: HostSpec) -> None:
    if not _HOST_ID.match(spec.host_id):
        raise LabHostError(f"lab host id {spec.host_id!r} must be 1-64 letters, digits, '.', '_' or '-'")
    if not _HOSTNAME.match(spec.hostname):
        raise LabHostError(f"hostname {spec.hostname!r} is not a valid host name (letters, digits, '-')")
    if len(spec.private_nics) > 9:
        raise LabHostError("a lab host has at most 9 private NICs")
    for network_id, address, prefixlen in spec.private_nics:
        ipaddress.IPv4Interface(f"{address}/{int(prefixlen)}")
        if not str(network_id):
            raise LabHostError("a private NIC needs a private network id")
    if spec.public_ip is None and not spec.private_nics:
        raise LabHostError(f"lab host {spec.host_id} needs a public IP or a private NIC")
    for key in spec.authorized_keys:
        if "\n" in key.strip():
            raise LabHostError("an authorized key must be a single line")
    _validate_firewall(spec.firewall)


def _validate_firewall(firewall: Firewall) -> None:
    if firewall.inbound_default_policy not in ("accept", "drop"):
        raise LabHostError(f"inbound default policy {firewall.inbound_default_policy!r} is not accept or drop")
    for rule in firewall.rules:
        _nft_rule(rule)


def _nft_rule(rule: FirewallRule) -> str:
    """One nft statement for a rule; every field is validated, so nothing else reaches nft."""
    if rule.action not in ("accept", "drop"):
        raise LabHostError(f"firewall rule action {rule.action!r} is not accept or drop")
    protocol = rule.protocol.upper()
    if protocol not in ("TCP", "UDP", "ICMP", "ANY"):
        raise LabHostError(f"firewall rule protocol {rule.protocol!r} is not TCP, UDP, ICMP or ANY")
    parts = []
    if rule.ip_range:
        try:
            network = ipaddress.ip_network(rule.ip_range, strict=False)
        except ValueError:
            raise LabHostError(f"firewall rule ip_range {rule.ip_range!r} is not a CIDR") from None
        if network.prefixlen:
            parts.append(f"{'ip' if network.version == 4 else 'ip6'} saddr {network}")
    ports = None
    if rule.port is not None:
        if not 0 < int(rule.port) < 65536:
            raise LabHostError(f"firewall rule port {rule.port!r} is out of range")
        ports = str(int(rule.port))
    elif rule.port_range:
        match = _PORT_RANGE.match(rule.port_range.strip())
        low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, 0)
        if not match or not 0 < low <= high < 65536:
            raise LabHostError(f"firewall rule port_range {rule.port_range!r} is not 'from-to'")
        ports = f"{low}-{high}" if high != low else str(low)
    if protocol in ("TCP", "UDP"):
        parts.append(f"{protocol.lower()} dport {ports}" if ports else f"meta l4proto {protocol.lower()}")
    elif protocol == "ICMP":
        parts.append("meta l4proto { icmp, ipv6-icmp }")
    parts.append(rule.action)
    return " ".join(parts)


def firewall_ruleset(firewall: Firewall) -> str:
    """The nft script that replaces a host's filter table (eth0 is the public side; other NICs pass)."""
    lines = [
        f"table inet {FW_TABLE}",
        f"delete table inet {FW_TABLE}",
        f"table inet {FW_TABLE} {{",
        "  chain input {",
        "    type filter hook input priority filter; policy accept;",
        '    iif "lo" accept',
        '    iifname != "eth0" accept',
    ]
    if firewall.stateful:
        lines.append("    ct state established,related accept")
    lines += [f"    {_nft_rule(rule)}" for rule in firewall.rules]
    lines += [f"    {firewall.inbound_default_policy}", "  }", "}"]
    return "\n".join(lines) + "\n"


def _apply_firewall(netns: str, firewall: Firewall) -> None:
    nft = _which("nft") or "nft"
    result = subprocess.run(
        ["nsenter", f"--net={NETNS_DIR / netns}", nft, "-f", "-"],
        input=firewall_ruleset(firewall),
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        raise LabHostError(f"nft rejected the firewall of {netns}: {result.stderr.strip()[-300:]}")


# ----- processes and mounts -------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (PID 1 here may never reap what we orphaned)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _pids_in_netns(names: list[str]) -> set[int]:
    inodes = set()
    for name in names:
        with contextlib.suppress(OSError):
            st = os.stat(NETNS_DIR / name)
            inodes.add((st.st_dev, st.st_ino))
    pids = set()
    if not inodes:
        return pids
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                st = os.stat(f"/proc/{entry.name}/ns/net")
                if (st.st_dev, st.st_ino) in inodes:
                    pids.add(int(entry.name))
    return pids


def _with_descendants(pids: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    result, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in result:
            result.add(pid)
            todo += children.get(pid, [])
    return result


def _kill_processes(*, netns: list[str], pidfiles: list[Path], markers: list[str], grace: float = 5.0) -> None:
    """SIGTERM, a bounded wait (a manager's dockerd can take seconds after quorum loss), then SIGKILL."""
    pids = _pids_in_netns(netns)
    for pidfile in pidfiles:
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().strip())
            # Only a pid whose command line names this lab's directories: pids get reused.
            cmdline = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
            if any(marker in cmdline for marker in markers):
                pids.add(pid)
    pids = {p for p in _with_descendants(pids) if p != os.getpid()}
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            pids = {p for p in pids if _alive(p)}
            time.sleep(0.02)
        if not pids:
            return
        log.info("lab processes %s still running after %s; escalating", sorted(pids), sig.name)
    if pids:
        log.warning("lab processes %s survived SIGKILL", sorted(pids))


def _mountpoints_under(dirs: list[Path]) -> list[str]:
    roots = [str(d) for d in dirs]
    points = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            point = line.split()[1].encode().decode("unicode_escape")  # \040 etc.
            if any(point == root or point.startswith(root + "/") for root in roots):
                points.append(point)
    return points


_libc = ctypes.CDLL(None, use_errno=True)
_MNT_DETACH = 2


def _umount_under(dirs: list[Path]) -> None:
    """Lazily unmount everything below `dirs`, deepest first (dockerd leaves netns bind mounts there)."""
    for _ in range(3):  # a mount can be stacked; repeat until nothing is left
        points = _mountpoints_under(dirs)
        if not points:
            return
        for point in sorted(set(points), key=lambda p: p.count("/"), reverse=True):
            if _libc.umount2(point.encode(), _MNT_DETACH) != 0:
                subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
