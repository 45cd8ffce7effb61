"""ClusterSpec: the cluster.toml format, loaded and validated against the catalogue; every problem reported at once."""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmwiz.core.catalog import Catalog, bundled
from swarmwiz.core.errors import SpecError

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
MANAGER_COUNTS = (1, 3, 5, 7)
MAX_WORKERS = 100
MAX_ZONES = 3
DEFAULT_IMAGE = "ubuntu_noble"
DEFAULT_PRIVATE_SUBNET = "172.16.8.0/22"
IMAGE_RE = re.compile(r"^([a-z][a-z0-9_]{1,62}|([a-z]{2}-[a-z]{3}-[1-9]/)?[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})$")
PUBLIC_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)

# The allowed keys per table: anything else is a typo and is reported with a suggestion.
SCHEMA: dict[str, Any] = {
    "name": str,
    "zones": list,
    "image": str,
    "managers": {"count": int, "type": str},
    "workers": {"count": int, "type": str},
    "dns": {"domain": str, "apex": bool},
    "ssh": {"public_key": str, "allowed_cidrs": list},
    "network": {"private_subnet": str},
}
REQUIRED = ("name", "zones", "managers", "workers", "dns", "ssh")


@dataclass(frozen=True)
class NodeGroup:
    count: int
    type: str


@dataclass(frozen=True)
class ClusterSpec:
    """A validated cluster description; build it with `load_spec`, `parse_spec` or `validate`."""

    name: str
    zones: tuple[str, ...]
    region: str
    managers: NodeGroup
    workers: NodeGroup
    domain: str
    ssh_public_key_path: Path
    ssh_public_key: str
    allowed_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    apex: bool = False
    image: str = DEFAULT_IMAGE
    private_subnet: str = DEFAULT_PRIVATE_SUBNET
    source: Path | None = field(default=None, compare=False)

    @property
    def node_count(self) -> int:
        return self.managers.count + self.workers.count

    @property
    def ssh_private_key_path(self) -> Path | None:
        """The private key next to the public one, when it exists (else the SSH agent must hold it)."""
        candidate = self.ssh_public_key_path.with_suffix("")
        return candidate if candidate != self.ssh_public_key_path and candidate.is_file() else None

    def to_dict(self) -> dict[str, Any]:
        """The cluster.toml form of this spec (round-trips through `validate`)."""
        return {
            "name": self.name,
            "zones": list(self.zones),
            "image": self.image,
            "managers": {"count": self.managers.count, "type": self.managers.type},
            "workers": {"count": self.workers.count, "type": self.workers.type},
            "dns": {"domain": self.domain, "apex": self.apex},
            "ssh": {"public_key": str(self.ssh_public_key_path), "allowed_cidrs": list(self.allowed_cidrs)},
            "network": {"private_subnet": self.private_subnet},
        }

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    def tfvars(self) -> dict[str, Any]:
        """Non-secret Terraform inputs for the module (terraform.tfvars.json)."""
        return {
            "cluster_name": self.name,
            "region": self.region,
            "zones": list(self.zones),
            "image": self.image,
            "manager_count": self.managers.count,
            "manager_type": self.managers.type,
            "worker_count": self.workers.count,
            "worker_type": self.workers.type,
            "domain": self.domain,
            "apex_record": self.apex,
            "ssh_public_key": self.ssh_public_key,
            "ssh_allowed_cidrs": list(self.allowed_cidrs),
            "private_subnet": self.private_subnet,
        }

    def node_keys(self) -> list[str]:
        """Node keys as the module names them: manager-1.., worker-1.."""
        return [f"manager-{i + 1}" for i in range(self.managers.count)] + [
            f"worker-{i + 1}" for i in range(self.workers.count)
        ]


def load_spec(path: Path | str, catalog: Catalog | None = None) -> ClusterSpec:
    """Read and validate a cluster.toml; raises SpecError listing every problem."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([f"cluster file {path} does not exist"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"cluster file {path} cannot be read ({exc.__class__.__name__})"]) from None
    return parse_spec(text, catalog, source=path)


def parse_spec(text: str, catalog: Catalog | None = None, source: Path | None = None) -> ClusterSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = f"{source.name}: " if source else ""
        raise SpecError([f"{where}not valid TOML ({exc})"]) from None
    base = source.parent if source else Path.cwd()
    return validate(data, catalog, base_dir=base, source=source)


def validate(
    data: dict[str, Any],
    catalog: Catalog | None = None,
    *,
    base_dir: Path | None = None,
    source: Path | None = None,
) -> ClusterSpec:
    """Check a parsed cluster.toml against the schema and catalogue; all problems are raised together."""
    catalog = catalog or bundled()
    problems: list[str] = []
    _check_keys(data, SCHEMA, "", problems)
    for key in REQUIRED:
        if key not in data:
            problems.append(f"{key}: missing; it is required (see the cluster.toml example in the README)")

    name = _get(data, "name", str, problems)
    if name is not None and not NAME_RE.match(name):
        problems.append(
            f"name: {_show(name)} is not allowed; use 1-31 characters: a lowercase letter, then lowercase letters, "
            "digits or '-'"
        )

    zones, region = _check_zones(data, catalog, problems)
    managers = _check_group(data, "managers", catalog, zones, problems)
    workers = _check_group(data, "workers", catalog, zones, problems)

    dns = data.get("dns") if isinstance(data.get("dns"), dict) else {}
    domain = _check_domain(dns.get("domain"), problems) if "dns" in data else None
    apex = _get(dns, "apex", bool, problems, prefix="dns.", default=False)

    ssh = data.get("ssh") if isinstance(data.get("ssh"), dict) else {}
    key_path, key_text = _check_public_key(ssh.get("public_key"), base_dir, problems) if "ssh" in data else (None, None)
    cidrs = _check_cidrs(ssh.get("allowed_cidrs", ["0.0.0.0/0"]), problems)

    image = _get(data, "image", str, problems, default=DEFAULT_IMAGE)
    if image is not None and not IMAGE_RE.match(image):
        problems.append(f"image: {_show(image)} is not an image label (like ubuntu_noble) or a local image UUID")
    network = data.get("network") if isinstance(data.get("network"), dict) else {}
    subnet = _check_private_subnet(network.get("private_subnet", DEFAULT_PRIVATE_SUBNET), problems)

    if problems:
        raise SpecError(problems)
    return ClusterSpec(
        name=name,
        zones=tuple(zones),
        region=region,
        managers=managers,
        workers=workers,
        domain=domain,
        ssh_public_key_path=key_path,
        ssh_public_key=key_text,
        allowed_cidrs=tuple(cidrs),
        apex=apex,
        image=image,
        private_subnet=subnet,
        source=source,
    )


def _show(value: Any, limit: int = 40) -> str:
    """A value as it may appear in a message: repr'd (so control characters show), and cut when very long."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(t: type) -> str:
    return {str: "a string", int: "a whole number", bool: "true or false", list: "a list", dict: "a table"}[t]


def _is(value: Any, t: type) -> bool:
    # bool is a subclass of int in Python; TOML keeps them apart, and so do we.
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, t)


def _get(table: dict, key: str, t: type, problems: list[str], *, prefix: str = "", default: Any = None) -> Any:
    if key not in table:
        return default
    value = table[key]
    if not _is(value, t):
        problems.append(f"{prefix}{key}: must be {_type_name(t)}, not {_show(value)}")
        return None
    return value


def _check_keys(data: Any, schema: dict, prefix: str, problems: list[str]) -> None:
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if key not in schema:
            hint = difflib.get_close_matches(key, list(schema), n=1)
            allowed = ", ".join(schema)
            suggestion = f"did you mean '{hint[0]}'? " if hint else ""
            problems.append(f"{prefix}{_show(key)}: unknown key; {suggestion}allowed here: {allowed}")
        elif isinstance(schema[key], dict):
            if not isinstance(value, dict):
                problems.append(f"{prefix}{key}: must be a table ([{prefix}{key}]), not {_show(value)}")
            else:
                _check_keys(value, schema[key], f"{prefix}{key}.", problems)


def _check_zones(data: dict, catalog: Catalog, problems: list[str]) -> tuple[list[str], str | None]:
    zones = _get(data, "zones", list, problems)
    if zones is None:
        return [], None
    known = catalog.zones
    if not zones:
        problems.append(f'zones: needs at least one zone, e.g. ["fr-par-1"]; known zones: {", ".join(known)}')
        return [], None
    if len(zones) > MAX_ZONES:
        problems.append(f"zones: at most {MAX_ZONES} zones (the zones of one region), got {len(zones)}")
    good: list[str] = []
    for zone in zones:
        if not isinstance(zone, str) or zone not in known:
            problems.append(f"zones: {_show(zone)} is not a Scaleway zone; known zones: {', '.join(known)}")
        elif zone in good:
            problems.append(f"zones: {zone} is listed twice; list each zone once")
        else:
            good.append(zone)
    regions = sorted({known[z] for z in good})
    if len(regions) > 1:
        problems.append(
            f"zones: must all be in one region (a private network is regional), got regions {', '.join(regions)}"
        )
    return good, (regions[0] if len(regions) == 1 else None)


def _check_group(data: dict, role: str, catalog: Catalog, zones: list[str], problems: list[str]) -> NodeGroup | None:
    table = data.get(role)
    if not isinstance(table, dict):
        return None
    count = _get(table, "count", int, problems, prefix=f"{role}.")
    type_name = _get(table, "type", str, problems, prefix=f"{role}.")
    if "count" not in table:
        problems.append(f"{role}.count: missing; it is required")
    if "type" not in table:
        problems.append(f'{role}.type: missing; it is required (e.g. "DEV1-S")')
    if count is not None:
        if role == "managers" and count not in MANAGER_COUNTS:
            problems.append(
                f"managers.count: {count} is not allowed; use 1, 3, 5 or 7 (an odd number keeps a quorum: "
                "3 survives 1 failure, 5 survives 2)"
            )
        if role == "workers" and not 0 <= count <= MAX_WORKERS:
            problems.append(f"workers.count: {count} is not allowed; use 0 to {MAX_WORKERS}")
    if type_name is not None:
        itype = catalog.types.get(type_name) or catalog.types.get(type_name.upper())
        if itype is None:
            close = difflib.get_close_matches(type_name.upper(), list(catalog.types), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            problems.append(f"{role}.type: {_show(type_name)} is not a Scaleway instance type{hint}")
        else:
            missing = [z for z in zones if not itype.offered_in(z)]
            if missing:
                offered = ", ".join(z for z in itype.per_zone) or "no zone"
                problems.append(
                    f"{role}.type: {itype.name} is not offered in {', '.join(missing)}; it is offered in {offered}"
                )
            if itype.end_of_service:
                problems.append(
                    f"{role}.type: {itype.name} is being retired by Scaleway (end of service); choose another"
                )
            type_name = itype.name
    if count is None or type_name is None:
        return None
    return NodeGroup(count, type_name)


def _check_domain(domain: Any, problems: list[str]) -> str | None:
    if domain is None:
        problems.append('dns.domain: missing; give a zone of your Cloudflare account, e.g. "example.com"')
        return None
    if not isinstance(domain, str):
        problems.append(f"dns.domain: must be a string, not {_show(domain)}")
        return None
    import idna

    candidate = domain.strip().rstrip(".")
    try:
        ascii_name = idna.encode(candidate, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        problems.append(f"dns.domain: {_show(domain)} is not a valid domain name (letters, digits, '-' and dots)")
        return None
    labels = ascii_name.split(".")
    if len(labels) < 2 or len(ascii_name) > 253 or not re.fullmatch(r"[a-z][a-z0-9-]*", labels[-1]):
        problems.append(f"dns.domain: {_show(domain)} must be a registered domain like example.com")
        return None
    return ascii_name


def _check_public_key(value: Any, base_dir: Path | None, problems: list[str]) -> tuple[Path | None, str | None]:
    if value is None:
        problems.append("ssh.public_key: missing; give the path of an OpenSSH public key, e.g. ~/.ssh/id_ed25519.pub")
        return None, None
    if not isinstance(value, str):
        problems.append(f"ssh.public_key: must be a path string, not {_show(value)}")
        return None, None
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        text = path.read_text(encoding="utf-8", errors="strict").strip()
    except FileNotFoundError:
        problems.append(f"ssh.public_key: {path} does not exist; give an OpenSSH public key file (*.pub)")
        return None, None
    except (OSError, UnicodeDecodeError):
        problems.append(f"ssh.public_key: {path} cannot be read as text")
        return None, None
    if "PRIVATE KEY" in text:
        problems.append(
            f"ssh.public_key: {path} is a PRIVATE key; give the public key ({path.name}.pub) and keep the private one "
            "private"
        )
        return None, None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    parts = lines[0].split() if len(lines) == 1 else []
    if len(parts) < 2 or parts[0] not in PUBLIC_KEY_TYPES:
        problems.append(
            f"ssh.public_key: {path} is not a single OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa)"
        )
        return None, None
    return path.resolve(), " ".join(parts[:3])


def _check_cidrs(value: Any, problems: list[str]) -> list[str]:
    if not isinstance(value, list) or not value:
        problems.append(
            f'ssh.allowed_cidrs: must be a non-empty list of CIDRs like ["203.0.113.0/24"], not {_show(value)}'
        )
        return []
    cidrs = []
    for item in value:
        try:
            if not isinstance(item, str):
                raise ValueError
            cidrs.append(str(ipaddress.ip_network(item, strict=True)))
        except ValueError:
            problems.append(
                f"ssh.allowed_cidrs: {_show(item)} is not a network in CIDR form like 203.0.113.0/24 (host bits zero)"
            )
    return cidrs


def _check_private_subnet(value: Any, problems: list[str]) -> str | None:
    try:
        if not isinstance(value, str):
            raise ValueError
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        problems.append(
            f"network.private_subnet: {_show(value)} is not an IPv4 network in CIDR form like 172.16.8.0/22"
        )
        return None
    if net.version != 4 or not net.is_private or not 16 <= net.prefixlen <= 28:
        problems.append(
            f"network.private_subnet: {value} must be a private IPv4 range (RFC 1918) with a prefix from /16 to /28"
        )
        return None
    return str(net)
