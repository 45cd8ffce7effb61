"""Security groups of lab hosts: Scaleway's inbound rules turned into an nft table inside a host's namespace
(the public interface only; private NICs are never filtered, as on Scaleway)."""

from __future__ import annotations

import ipaddress
import re
import subprocess
from dataclasses import dataclass, field

from swarmwiz.lab.kernel import NETNS_DIR, LabHostError, which

FW_TABLE = "swarmwiz_fw"
_PORT_RANGE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


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


def validate_firewall(firewall: Firewall) -> None:
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


def apply_firewall(netns: str, firewall: Firewall, *, extra: str = "") -> None:
    """Replace the host's filter table in one nft transaction (with `extra`, more nft script of the lab's own)."""
    nft = which("nft") or "nft"
    result = subprocess.run(
        ["nsenter", f"--net={NETNS_DIR / netns}", nft, "-f", "-"],
        input=firewall_ruleset(firewall) + extra,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        raise LabHostError(f"nft rejected the firewall of {netns}: {result.stderr.strip()[-300:]}")
