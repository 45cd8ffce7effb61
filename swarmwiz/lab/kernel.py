"""Kernel objects of the lab on this machine: `ip` commands, links and network namespaces by prefix, the
processes inside namespaces, and the mounts dockerd leaves behind; what `hosts` and `firewall` build on."""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

NETNS_DIR = Path("/var/run/netns")
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


class LabHostError(RuntimeError):
    """A lab host could not be created, changed or removed; the message says which and why."""


def which(command: str) -> str | None:
    return shutil.which(command) or shutil.which(command, path=os.pathsep.join(_SBIN))


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([which("ip") or "ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise LabHostError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result


def ip_batch(commands: list[str], *, netns: str | None = None) -> None:
    args = [which("ip") or "ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    result = subprocess.run(args, input="\n".join(commands) + "\n", capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise LabHostError(f"`ip{' -n ' + netns if netns else ''}` failed: {result.stderr.strip()[-300:]}")


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def links_with_prefix(prefix: str) -> list[str]:
    # veths ("<prefix><n>e<k>") before bridges, so a bridge is deleted without ports.
    names = [p.name for p in Path("/sys/class/net").iterdir() if p.name.startswith(prefix)]
    return sorted(names, key=lambda n: (not n[len(prefix) :][:1].isdigit(), n))


def netns_with_prefix(prefix: str) -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix + "-"))


def networks_in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the root namespace has an address in or a route to."""
    networks = []
    for args in (["-j", "-4", "addr"], ["-j", "-4", "route", "show", "table", "all"]):
        result = ip(*args, check=False)
        with contextlib.suppress(ValueError):
            for item in json.loads(result.stdout or "[]"):
                for info in item.get("addr_info", []):
                    networks.append(ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False))
                dst = item.get("dst")
                if dst and dst != "default" and item.get("type", "unicast") == "unicast":
                    with contextlib.suppress(ValueError):
                        networks.append(ipaddress.IPv4Network(dst if "/" in dst else f"{dst}/32", strict=False))
    return networks


def subnet_in_use(subnet: ipaddress.IPv4Network, *, ignore_links: set[str]) -> bool:
    result = ip("-j", "-4", "addr", check=False)
    with contextlib.suppress(ValueError):
        for item in json.loads(result.stdout or "[]"):
            if item.get("ifname") in ignore_links:
                continue
            for info in item.get("addr_info", []):
                if ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False).overlaps(subnet):
                    return True
    return False


# ----- neighbour tables -----------------------------------------------------------------------------------

# The kernel keeps one neighbour table (ARP for IPv4, NDP for IPv6) for every network namespace on the machine, with
# limits sized for one host: gc_thresh1/2/3 = 128/512/1024 entries, set in the root namespace only. A real server
# has a table of its own; fifty lab hosts that all talk to each other on one bridge need ~2,600 entries together.
# Measured in a 50-node lab deploy: "neighbor table overflow!" in the kernel log, ~50,000 failed inserts, swarm joins
# failing with "no route to host" and the hosts' dockerd spending 0.53 of a core on gossip re-sent over evicted
# entries (0.23 with the limits raised). So the lab gives each namespace the limits a host of its own would have.
NEIGHBOUR_LIMITS = {"gc_thresh1": 128, "gc_thresh2": 512, "gc_thresh3": 1024}  # Linux defaults, per host
_NET_SYSCTL = Path("/proc/sys/net")


def size_neighbour_tables(namespaces: int, *, sysctl: Path = _NET_SYSCTL) -> dict[str, int]:
    """Raise the machine's IPv4 and IPv6 neighbour table limits to the per-host defaults times `namespaces` + 1
    (the root namespace counts too); a limit already higher is kept (another lab, or the admin, may need it).
    Returns the limits written, by sysctl path relative to `sysctl`."""
    written = {}
    for family in ("ipv4", "ipv6"):
        for name, per_host in NEIGHBOUR_LIMITS.items():
            path = sysctl / family / "neigh" / "default" / name
            wanted = per_host * (namespaces + 1)
            try:
                current = int(path.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # no such table (IPv6 disabled): nothing to size
            if current < wanted:
                try:
                    path.write_text(f"{wanted}\n")
                except OSError as exc:
                    raise LabHostError(f"cannot raise {path} to {wanted} for {namespaces} lab hosts: {exc}") from None
                written[str(path.relative_to(sysctl))] = wanted
    if written:
        log.info("neighbour table limits raised for %d network namespaces: %s", namespaces, written)
    return written


# ----- processes and mounts -------------------------------------------------------------------------------


def alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (PID 1 here may never reap what we orphaned)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def pids_in_netns(names: list[str]) -> set[int]:
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


def kill_processes(*, netns: list[str], pidfiles: list[Path], markers: list[str], grace: float = 5.0) -> None:
    """SIGTERM, a bounded wait (a manager's dockerd can take seconds after quorum loss), then SIGKILL; repeated
    while the namespaces still hold processes (a booting host may start a daemon while the first round runs)."""
    for _ in range(5):
        _kill_round(netns=netns, pidfiles=pidfiles, markers=markers, grace=grace)
        pidfiles = []
        left = pids_in_netns(netns)
        if not left:
            return
        log.info("lab processes %s started while their host was being stopped; stopping them too", sorted(left))
    log.warning("lab namespaces %s still hold processes", ", ".join(netns))


def _kill_round(*, netns: list[str], pidfiles: list[Path], markers: list[str], grace: float) -> None:
    pids = pids_in_netns(netns)
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
            pids = {p for p in pids if alive(p)}
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


def umount_under(dirs: list[Path]) -> None:
    """Lazily unmount everything below `dirs`, deepest first (dockerd leaves netns bind mounts there)."""
    for _ in range(3):  # a mount can be stacked; repeat until nothing is left
        points = _mountpoints_under(dirs)
        if not points:
            return
        for point in sorted(set(points), key=lambda p: p.count("/"), reverse=True):
            if _libc.umount2(point.encode(), _MNT_DETACH) != 0:
                subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
