"""Shared helpers for lab-host tests: a client key, N hosts started with LabNet, and a leftovers check."""

from __future__ import annotations

import concurrent.futures
import ipaddress
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from swarmwiz.core.hostkeys import generate_host_key, known_hosts_line
from swarmwiz.core.swarm import Node
from swarmwiz.lab.firewall import Firewall, FirewallRule
from swarmwiz.lab.hosts import HostSpec, LabNet
from swarmwiz.lab.kernel import NETNS_DIR

PRIVATE_NETWORK = "pn-lab-test"
PRIVATE_SUBNET = ipaddress.IPv4Network("172.16.8.0/22")


def swarm_firewall() -> Firewall:
    """The module's security group: inbound drop, SSH and web open, swarm ports only on the private side."""
    return Firewall(
        inbound_default_policy="drop",
        stateful=True,
        rules=[
            FirewallRule(action="accept", protocol="TCP", port=22, ip_range="0.0.0.0/0"),
            FirewallRule(action="accept", protocol="TCP", port=80),
            FirewallRule(action="accept", protocol="TCP", port=443),
            FirewallRule(action="accept", protocol="ICMP"),
        ],
    )


def make_client_key(directory: Path) -> tuple[Path, str]:
    """An ed25519 client key pair in `directory`: (private key path, public key line)."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment="swarmwiz-test")
    path = directory / "id_ed25519"
    path.write_bytes(key.export_private_key())
    path.chmod(0o600)
    return path, key.export_public_key().decode().strip()


@dataclass
class LabHost:
    host_id: str
    node: Node
    host_key_public: str
    netns: str


@dataclass
class HostLab:
    """N lab hosts on one LabNet, with the client key and a known_hosts file pinning every host key."""

    net: LabNet
    client_key: Path
    known_hosts: Path
    hosts: list[LabHost] = field(default_factory=list)

    @property
    def nodes(self) -> list[Node]:
        return [h.node for h in self.hosts]

    def close(self) -> None:
        self.net.clean()


def start_hosts(
    base: Path,
    roles: list[str],
    *,
    prefix: str = "node",
    firewall: Firewall | None = None,
    zones: tuple[str, ...] = ("fr-par-1", "fr-par-2"),
    until: str = "cloud-init",
    time_scale: float | None = None,
    cloud_init_errors: dict[str, str] | None = None,
) -> HostLab:
    """Start one host per role (in parallel, as the lab API's threads do) under `base`/lab, and wait until
    their boot finished (`until="cloud-init"`) or only until sshd answers (`until="ssh"`: Docker comes later).
    `cloud_init_errors` makes cloud-init fail on the nodes it names ({"worker-1": "message"})."""
    net = LabNet(base / "lab")
    net.ensure()
    client_key, client_public = make_client_key(base)
    subnet = net.public_subnet
    counters: dict[str, int] = {}
    specs, nodes, public_keys = [], [], []
    for index, role in enumerate(roles):
        counters[role] = counters.get(role, 0) + 1
        key = f"{role}-{counters[role]}"
        private, public = generate_host_key()
        public_ip = str(subnet.network_address + 10 + index)
        private_ip = str(PRIVATE_SUBNET.network_address + 10 + index)
        hostname = f"{prefix}-{key}"
        specs.append(
            HostSpec(
                host_id=f"srv-{key}",
                hostname=hostname,
                public_ip=public_ip,
                private_nics=[(PRIVATE_NETWORK, private_ip, PRIVATE_SUBNET.prefixlen)],
                authorized_keys=[client_public],
                host_key_private=private,
                host_key_public=public,
                firewall=firewall or swarm_firewall(),
                time_scale=time_scale,
                cloud_init_error=(cloud_init_errors or {}).get(key),
            )
        )
        nodes.append(
            Node(
                key=key,
                name=hostname,
                role=role,
                zone=zones[index % len(zones)],
                public_ip=public_ip,
                private_ip=private_ip,
            )
        )
        public_keys.append(public)
    known_hosts = base / "known_hosts"
    known_hosts.write_text(
        "".join(known_hosts_line(n.public_ip, k) + "\n" for n, k in zip(nodes, public_keys, strict=True))
    )
    lab = HostLab(net=net, client_key=client_key, known_hosts=known_hosts)
    try:
        with concurrent.futures.ThreadPoolExecutor(len(specs)) as pool:
            list(pool.map(lambda spec: net.create_host(spec, wait=until == "cloud-init"), specs))
        deadline = time.monotonic() + 120
        for spec in specs:
            while until == "ssh" and not tcp_open(spec.public_ip, 22, timeout=0.2):
                assert time.monotonic() < deadline, f"sshd of {spec.host_id} did not answer within 120 s"
                time.sleep(0.1)
    except BaseException:
        net.clean()
        raise
    lab.hosts = [
        LabHost(s.host_id, n, k, net.netns(s.host_id)) for s, n, k in zip(specs, nodes, public_keys, strict=True)
    ]
    return lab


def tcp_open(address: str, port: int, *, netns: str | None = None, timeout: float = 1.0) -> bool:
    """Whether a TCP connect to address:port succeeds, from the root namespace or from inside `netns`."""
    if netns is None:
        try:
            with socket.create_connection((address, port), timeout=timeout):
                return True
        except OSError:
            return False
    code = (
        f"import socket,sys\ntry:\n socket.create_connection(({address!r},{port}),timeout={timeout})\n"
        "except OSError:\n sys.exit(1)"
    )
    result = subprocess.run(
        ["nsenter", f"--net={NETNS_DIR / netns}", "python3", "-c", code], capture_output=True, timeout=timeout + 10
    )
    return result.returncode == 0


def leftovers(net: LabNet) -> dict[str, list[str]]:
    """Everything of this lab still present in the kernel or the process table (empty lists when clean)."""
    markers = (str(net.lab_dir), str(net.run_dir))
    netns = sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(net.prefix)) if NETNS_DIR.is_dir() else []
    links = sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name.startswith(net.prefix))
    with open("/proc/mounts") as f:
        mounts = [line.split()[1] for line in f if any(m in line for m in markers)]
    processes = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if any(m in cmdline for m in markers):
                processes.append(f"{entry.name}: {cmdline[:120]}")
    return {"netns": netns, "links": links, "mounts": mounts, "processes": processes}
