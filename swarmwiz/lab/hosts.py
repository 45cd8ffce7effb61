"""Lab hosts: network namespaces with their own hostname, a real sshd and a real dockerd, on lab bridges."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from swarmwiz.core.paths import atomic_write
from swarmwiz.lab import boot, kernel, metadata
from swarmwiz.lab.firewall import Firewall, apply_firewall, validate_firewall
from swarmwiz.lab.kernel import NETNS_DIR, LabHostError

log = logging.getLogger(__name__)

# Runtime state shared by every lab on this machine. dockerd's exec-root and data-root live here, not under
# the lab directory: unix socket paths are limited to 107 bytes (containerd nests its sockets deep under the
# exec-root), and dockerd bind-mounts its data-root onto itself, which would make `rm -rf <lab dir>` stop
# half-way and leave mounts behind at paths that move when a test framework renames old tmp dirs. A registry
# of labs (lab.json) lets one lab remove the kernel objects of another whose state directory was deleted.
RUN_ROOT = Path("/run/swarmwiz-lab")
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
    "ssh-keygen": "openssh-client",  # lab hosts generate their own host keys
    "curl": "curl",  # ... and publish their fingerprints through the metadata API, as Scaleway images do
    "nsenter": "util-linux",
    "unshare": "util-linux",
}
_SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_HOST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


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
    time_scale: float | None = None  # None: SWARMWIZ_LAB_TIME_SCALE (see swarmwiz.lab.boot)
    cloud_init_error: str | None = None  # cloud-init's final stage fails with this (Docker never comes)


def check_prerequisites() -> list[str]:
    """What this machine lacks to run lab hosts, one item each ("root privileges", "sshd (openssh-server)")."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root privileges")
    for command, package in _REQUIRED_COMMANDS.items():
        if not kernel.which(command):
            missing.append(f"{command} (Debian package {package})")
    return missing


def lab_prefix(lab_dir: Path) -> str:
    """The per-lab prefix of every kernel object: short enough that "<prefix><n>e<k>" fits IFNAMSIZ (15)."""
    return "sw" + hashlib.sha256(str(Path(lab_dir).resolve()).encode()).hexdigest()[:6]


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
        # The metadata API this process serves to the hosts it creates (see serve_metadata); without it, their
        # 169.254.42.42 is refused.
        self._metadata: metadata.MetadataServer | None = None
        self._metadata_source: metadata.Source | None = None
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
                if not subnet or kernel.subnet_in_use(ipaddress.IPv4Network(subnet), ignore_links={self.public_bridge}):
                    subnet = str(self._pick_subnet())
                state["public_subnet"] = subnet
                self._save(state)  # before the registry entry: an entry without state means "orphaned"
                self.run_dir.mkdir(parents=True, exist_ok=True)
                _write_json(self.run_dir / "lab.json", {"lab_dir": str(self.lab_dir), "public_subnet": subnet})
                net = ipaddress.IPv4Network(subnet)
                gateway = next(net.hosts())
                kernel.ip("link", "add", self.public_bridge, "type", "bridge", check=False)
                kernel.ip("addr", "replace", f"{gateway}/{net.prefixlen}", "dev", self.public_bridge)
                kernel.ip("link", "set", self.public_bridge, "up")
            self._save(state)

    def serve_metadata(self, source: metadata.Source) -> tuple[str, int]:
        """Serve Scaleway's metadata API to the hosts this object creates from now on (169.254.42.42 in each
        host leads to it; see swarmwiz.lab.metadata), answering from `source`; returns where it listens.
        Stop it with stop_metadata()."""
        self.ensure()
        with self._locked():
            self.stop_metadata()
            self._metadata_source = source
            endpoint = self._metadata_endpoint()
        assert endpoint is not None
        return endpoint

    def stop_metadata(self) -> None:
        """Stop serving the metadata API (the hosts' calls then fail). Safe to repeat."""
        with self._locked():
            server, self._metadata, self._metadata_source = self._metadata, None, None
        if server is not None:
            server.close()

    def create_host(self, spec: HostSpec, *, wait: bool = False) -> None:
        """Power a host on: namespace, NICs and firewall now, then its boot plays on the lab's time scale in the
        background (private NICs up, sshd, cloud-init's final stage bringing dockerd and the `docker` command;
        see swarmwiz.lab.boot). With `wait`, returns once cloud-init is done. Safe from several threads at once."""
        _validate_spec(spec)
        started = time.monotonic()
        try:
            scale = spec.time_scale if spec.time_scale is not None else boot.time_scale()
        except boot.TimeScaleError as exc:
            raise LabHostError(str(exc)) from None
        timeline = boot.boot_timeline(spec.hostname).scaled(scale)
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
                # One nft run: the security group and where 169.254.42.42 leads.
                apply_firewall(host["netns"], spec.firewall, extra=metadata.nat_ruleset(self._metadata_endpoint()))
            except BaseException:
                self._remove_hosts(state, [spec.host_id])
                self._save(state)
                raise
        try:
            self._boot(spec, host, timeline, wait=wait)
        except BaseException:
            self.delete_host(spec.host_id)
            raise
        log.info(
            "lab host %s (%s) %s in %.2fs",
            spec.host_id,
            spec.hostname,
            "booted" if wait else "powered on",
            time.monotonic() - started,
        )

    def cloud_init_status(self, host_id: str) -> str:
        """The host's `cloud-init status --long` text (empty before its boot began)."""
        with contextlib.suppress(OSError):
            return (self.host_dir(host_id) / "cloud-init" / "status").read_text()
        return ""

    def update_firewall(self, host_id: str, firewall: Firewall) -> None:
        """Replace a host's public-side rules atomically (one nft transaction)."""
        validate_firewall(firewall)
        with self._locked() as state:
            host = self._host(state, host_id)
            apply_firewall(host["netns"], firewall)

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

    def set_sshd(self, host_id: str, *, running: bool) -> None:
        """Stop or start a host's sshd: a node whose SSH stops answering (connections are refused), then
        comes back. Its other daemons keep running."""
        with self._locked() as state:
            host = self._host(state, host_id)
        run_dir = self._run_dir(host)
        if not running:
            kernel.kill_processes(netns=[], pidfiles=[run_dir / "sshd.pid"], markers=[str(self.lab_dir)])
            (run_dir / "sshd.pid").unlink(missing_ok=True)
            return
        if (run_dir / "sshd.pid").exists():
            return
        directory = self.host_dir(host_id)
        script = 'hostname "$1" && "$2" -f "$3/sshd_config" -E "$3/sshd.log"'
        argv = [*_in_host(host), "sh", "-c", script, "sh", host["hostname"], kernel.which("sshd"), str(directory)]
        result = subprocess.run(argv, capture_output=True, text=True, start_new_session=True, timeout=30)
        if result.returncode != 0:
            raise LabHostError(f"lab host {host_id}: starting sshd failed: {result.stderr.strip()[-300:]}")
        _wait_for(lambda: (run_dir / "sshd.pid").exists(), f"sshd of lab host {host_id} to listen", 30)

    def clean(self) -> None:
        """Remove everything of this lab: processes, mounts, namespaces, veths, bridges, dirs. Safe to repeat."""
        with self._locked() as state:
            self._remove_hosts(state, list(state["hosts"]))
            self._remove_stale(state)
            for name in kernel.links_with_prefix(self.prefix):
                kernel.ip("link", "del", name, check=False)
            kernel.umount_under([self.run_dir, self.lab_dir / "hosts"])
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

    def _metadata_endpoint(self) -> tuple[str, int] | None:
        """Where hosts reach the metadata API: on the public gateway, moved there if the bridge's subnet changed
        since it started (ensure() picks another /24 when its own was taken meanwhile). Under the lab lock."""
        if self._metadata_source is None:
            return None
        gateway = str(self.public_gateway)
        if self._metadata is not None and self._metadata.endpoint[0] != gateway:
            log.info("the lab's gateway moved to %s: moving the metadata API there", gateway)
            self._metadata.close()
            self._metadata = None
        if self._metadata is None:
            self._metadata = metadata.MetadataServer(self._metadata_source, gateway)
        return self._metadata.endpoint

    def _run_dir(self, host: dict) -> Path:
        return self.run_dir / f"h{host['index']}"

    def _bridge(self, state: dict, network_id: str) -> str:
        return f"{self.prefix}n{state['networks'][network_id]}"

    def _bridge_ready(self, subnet: ipaddress.IPv4Network) -> bool:
        """Whether the public bridge is up with the gateway address and nothing else claims the subnet."""
        gateway = f"{next(subnet.hosts())}/{subnet.prefixlen}"
        result = kernel.ip("-j", "-4", "addr", check=False)
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
        in_use = kernel.networks_in_use() + taken
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
        key_path = directory / "ssh_host_ed25519_key"
        if spec.host_key_private:  # brought by user data; otherwise the host generates its own as it boots
            _write_private(key_path, spec.host_key_private.strip() + "\n")
            if spec.host_key_public:
                (directory / "ssh_host_ed25519_key.pub").write_text(spec.host_key_public.strip() + "\n")
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
            # The host's bin first; root's home is its own (this machine's ~/.bashrc took ~160 ms per SSH command)
            f"SetEnv DOCKER_HOST=unix://{run_dir}/docker.sock PATH={directory / 'bin'}:{_SESSION_PATH} "
            f"HOME={directory / 'root'}",
            "Subsystem sftp internal-sftp",
        ]
        (directory / "sshd_config").write_text("\n".join(lines) + "\n")
        for name in ("cloud-init", "root"):
            (directory / name).mkdir(mode=0o700)
        bin_dir = directory / "bin"
        bin_dir.mkdir()
        status_file = shlex.quote(str(directory / "cloud-init" / "status"))
        for name, text in (
            ("cloud-init", boot.CLOUD_INIT_SCRIPT.format(status_file=status_file)),
            ("docker", boot.DOCKER_ABSENT),
            ("docker.installed", boot.DOCKER_PRESENT.format(docker=shlex.quote(kernel.which("docker") or "docker"))),
        ):
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
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
            if not kernel.link_exists(bridge):
                outside += [f"link add {bridge} type bridge", f"link set {bridge} up"]
            outside += [
                f"link add {veth} type veth peer name eth{nic} netns {netns}",
                f"link set {veth} master {bridge} up",
            ]
            # The link comes up when the boot timeline attaches the NIC (see _boot).
            inside += [f"addr add {address}/{int(prefixlen)} dev eth{nic}"]
        kernel.ip_batch(outside)
        kernel.ip_batch(inside, netns=netns)
        # every namespace on the machine (this lab's, other labs') shares the kernel's neighbour tables
        kernel.size_neighbour_tables(len(list(kernel.NETNS_DIR.iterdir())))

    def _boot(self, spec: HostSpec, host: dict, timeline: boot.BootTimeline, *, wait: bool) -> None:
        directory = self.host_dir(spec.host_id)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        script = boot.boot_script(
            timeline,
            hostname=spec.hostname,
            host_dir=directory,
            run_dir=self._run_dir(host),
            nics=[f"eth{nic}" for nic in range(1, len(host["nics"]) + 1)],
            sshd=kernel.which("sshd") or "sshd",
            dockerd=kernel.which("dockerd") or "dockerd",
            docker=kernel.which("docker") or "docker",
            ssh_keygen=kernel.which("ssh-keygen") or "ssh-keygen",
            curl=kernel.which("curl") or "curl",
            cloud_init_error=spec.cloud_init_error,
        )
        (directory / "boot.sh").write_text(script)
        # One UTS namespace for the boot and the daemons it starts: SSH sessions and the swarm node both see
        # the host's name. The outer shell exits at once, so the boot script is re-parented and plays on alone.
        launch = 'sh "$1" >"$2" 2>&1 </dev/null &'
        argv = [*_in_host(host), "sh", "-c", launch, "sh", str(directory / "boot.sh"), str(directory / "boot.log")]
        result = subprocess.run(argv, capture_output=True, text=True, start_new_session=True, timeout=30)
        if result.returncode != 0:
            raise LabHostError(f"lab host {spec.host_id}: starting its boot failed: {result.stderr.strip()[-300:]}")
        if not wait:
            return
        limit = timeline.cloud_init + 60
        _wait_for(
            lambda: _status_of(self.cloud_init_status(spec.host_id)) in ("done", "error"),
            f"cloud-init on lab host {spec.host_id}",
            limit,
            interval=0.05,
        )
        if _status_of(self.cloud_init_status(spec.host_id)) == "error":
            raise LabHostError(
                f"lab host {spec.host_id}: cloud-init failed: {self.cloud_init_status(spec.host_id).strip()[-300:]}"
                f" {_tail(directory / 'dockerd.log')}"
            )

    def _remove_hosts(self, state: dict, host_ids: list[str]) -> None:
        hosts = [(host_id, state["hosts"][host_id]) for host_id in host_ids if host_id in state["hosts"]]
        if not hosts:
            return
        self._kill(*(h for _, h in hosts))
        dirs = [self.host_dir(host_id) for host_id, _ in hosts] + [self._run_dir(h) for _, h in hosts]
        kernel.umount_under(dirs)
        for host_id, host in hosts:
            kernel.ip("netns", "del", host["netns"], check=False)
            for veth in [f"{self.prefix}{host['index']}e0"] + [n[3] for n in host["nics"]]:
                if kernel.link_exists(veth):
                    kernel.ip("link", "del", veth, check=False)
            del state["hosts"][host_id]
        for directory in dirs:
            shutil.rmtree(directory, ignore_errors=True)
        # A private network's bridge goes with its last host.
        in_use = {n[0] for h in state["hosts"].values() for n in h["nics"]}
        for network_id in [n for n in state["networks"] if n not in in_use]:
            kernel.ip("link", "del", self._bridge(state, network_id), check=False)
            del state["networks"][network_id]

    def _kill(self, *hosts: dict) -> None:
        kernel.kill_processes(
            netns=[h["netns"] for h in hosts],
            pidfiles=[self._run_dir(h) / name for h in hosts for name in ("docker.pid", "sshd.pid")],
            markers=[str(self.lab_dir), str(self.run_dir)],
        )

    def _remove_stale(self, state: dict) -> None:
        """Objects with this lab's prefix that its state does not know, and hosts whose namespace vanished."""
        known_netns = {h["netns"] for h in state["hosts"].values()}
        stale_netns = [n for n in kernel.netns_with_prefix(self.prefix) if n not in known_netns]
        for host_id, host in list(state["hosts"].items()):
            if not (NETNS_DIR / host["netns"]).exists():
                log.warning("lab host %s lost its namespace (reboot or manual cleanup); forgetting it", host_id)
                self._remove_hosts(state, [host_id])
        if stale_netns:
            log.warning("removing stale lab namespaces %s", ", ".join(stale_netns))
            kernel.kill_processes(netns=stale_netns, pidfiles=[], markers=[])
        known_dirs = {f"h{h['index']}" for h in state["hosts"].values()}
        stale_dirs = [p for p in self.run_dir.glob("h*") if p.name not in known_dirs]
        known_ids = set(state["hosts"])
        hosts_dir = self.lab_dir / "hosts"
        stale_dirs += [p for p in hosts_dir.glob("*") if p.name not in known_ids] if hosts_dir.is_dir() else []
        kernel.umount_under(stale_dirs)
        for name in stale_netns:
            kernel.ip("netns", "del", name, check=False)
        known_links = {self.public_bridge} | {self._bridge(state, n) for n in state["networks"]}
        known_links |= {f"{self.prefix}{h['index']}e0" for h in state["hosts"].values()}
        known_links |= {n[3] for h in state["hosts"].values() for n in h["nics"]}
        for name in kernel.links_with_prefix(self.prefix):
            if name not in known_links:
                kernel.ip("link", "del", name, check=False)
        for directory in stale_dirs:
            shutil.rmtree(directory, ignore_errors=True)


# ----- helpers --------------------------------------------------------------------------------------------


def _empty_state() -> dict:
    return {"version": 1, "hosts": {}, "networks": {}, "next_index": 1, "next_network": 1}


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


def _status_of(long_status: str) -> str:
    return next((line[8:].strip() for line in long_status.splitlines() if line.startswith("status: ")), "")


def _in_host(host: dict) -> list[str]:
    """The argv prefix that runs a command inside a host: its network namespace and a UTS namespace of its
    own (nsenter, never `ip netns exec`: that remounts /sys and dockerd then dies with "Devices cgroup isn't
    mounted")."""
    return ["nsenter", f"--net={NETNS_DIR / host['netns']}", "unshare", "--uts"]


def _wait_for(check, what: str, limit: float, *, interval: float = 0.01) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise LabHostError(f"timed out after {limit:g}s waiting for {what}")
        time.sleep(interval)


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
    validate_firewall(spec.firewall)
