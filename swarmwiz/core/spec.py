"""ClusterSpec: the cluster.toml format, loaded and validated against the catalogue; every problem reported at once."""

from __future__ import annotations

import base64
import difflib
import ipaddress
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarmwiz.core.catalog import Catalog, bundled
from swarmwiz.core.errors import SpecError, printable

# Use these with fullmatch: `match` with `$` also accepts a trailing newline ("demo\n").
NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,30}")
MANAGER_COUNTS = (1, 3, 5, 7)
MAX_WORKERS = 100
MAX_ZONES = 3
DEFAULT_IMAGE = "ubuntu_noble"
DEFAULT_PRIVATE_SUBNET = "172.16.8.0/22"
# S3 bucket naming rules (what Scaleway Object Storage accepts too): 3-63 of a-z 0-9 . -, a letter or digit at
# both ends, no "..", and not shaped like an IP address.
BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_SPEC_BYTES = 1 << 20
MAX_PUBLIC_KEY_BYTES = 64 << 10
# The only ranges a private network may use (RFC 1918): not link-local (169.254/16 holds the metadata API),
# loopback, 0.0.0.0/8 or other special ranges that `is_private` also accepts.
RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
IMAGE_RE = re.compile(r"[a-z][a-z0-9_]{1,62}|([a-z]{2}-[a-z]{3}-[1-9]/)?[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")
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
    "dns": {"domain": str, "apex": bool, "subdomain": str, "replace_existing": bool},
    "ssh": {"public_key": str, "allowed_cidrs": list},
    "network": {"private_subnet": str},
    "state": {"bucket": str},
}
REQUIRED = ("name", "zones", "managers", "workers", "dns", "ssh")


class Problem(str):
    """One validation problem: its `field` as data ("managers.count"), rendered as the sentence "FIELD: MESSAGE".

    A str, so that code printing or joining problems keeps working; frontends pick problems by `field`.
    """

    field: str
    message: str

    def __new__(cls, field: str, message: str, *, shown: str | None = None) -> Problem:
        self = super().__new__(cls, f"{shown or field}: {message}")
        self.field = field
        self.message = message
        return self

    def __reduce__(self):  # a str subclass with attributes must say how to copy itself
        return (_problem, (self.field, self.message, str(self)))


def _problem(field: str, message: str, text: str) -> Problem:
    shown = text[: len(text) - len(message) - 2]
    return Problem(field, message, shown=shown)


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
    subdomain: str = ""  # the cluster's records go to *.SUBDOMAIN.DOMAIN (and SUBDOMAIN.DOMAIN with apex)
    replace_existing: bool = False  # records already at those names are deleted (after confirmation)
    private_subnet: str | None = None  # None: swarmwiz picks a free /22 of the VPC (core/network.py)
    #: The Object Storage bucket of a shared Terraform state ([state] bucket); None keeps the state local.
    state_bucket: str | None = None
    source: Path | None = field(default=None, compare=False)

    @property
    def node_count(self) -> int:
        return self.managers.count + self.workers.count

    @property
    def ssh_private_key_path(self) -> Path | None:
        """The private key next to the public one, when it exists (else the SSH agent must hold it)."""
        candidate = self.ssh_public_key_path.with_suffix("")
        return candidate if candidate != self.ssh_public_key_path and candidate.is_file() else None

    @property
    def dns_name(self) -> str:
        """The name the cluster's records hang below: the domain, or subdomain.domain."""
        return f"{self.subdomain}.{self.domain}" if self.subdomain else self.domain

    def to_dict(self) -> dict[str, Any]:
        """The cluster.toml form of this spec (round-trips through `validate`)."""
        return {
            "name": self.name,
            "zones": list(self.zones),
            "image": self.image,
            "managers": {"count": self.managers.count, "type": self.managers.type},
            "workers": {"count": self.workers.count, "type": self.workers.type},
            "dns": {
                "domain": self.domain,
                "apex": self.apex,
                **({"subdomain": self.subdomain} if self.subdomain else {}),
                **({"replace_existing": True} if self.replace_existing else {}),
            },
            "ssh": {"public_key": str(self.ssh_public_key_path), "allowed_cidrs": list(self.allowed_cidrs)},
            "network": {"private_subnet": self.private_subnet} if self.private_subnet else {},
            **({"state": {"bucket": self.state_bucket}} if self.state_bucket else {}),
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
            **({"subdomain": self.subdomain} if self.subdomain else {}),  # the module's default is ""
            "ssh_public_key": self.ssh_public_key,
            "ssh_allowed_cidrs": list(self.allowed_cidrs),
        } | ({"private_subnet": self.private_subnet} if self.private_subnet else {})

    def node_keys(self) -> list[str]:
        """Node keys as the module names them: manager-1.., worker-1.."""
        return [f"manager-{i + 1}" for i in range(self.managers.count)] + [
            f"worker-{i + 1}" for i in range(self.workers.count)
        ]


def load_spec(path: Path | str, catalog: Catalog | None = None) -> ClusterSpec:
    """Read and validate a cluster.toml; raises SpecError listing every problem."""
    path = Path(path).expanduser()
    text = read_text_file(path, MAX_SPEC_BYTES, "cluster file", field="config", shown="--config")
    return parse_spec(text, catalog, source=path)


def load_stored_spec(path: Path, public_key: str = "") -> ClusterSpec:
    """A workspace's stored cluster.toml, for status and destroy: checked for shape only, never against today's
    catalogue or the local key file, so that a retired type or a moved .pub never blocks a teardown."""
    text = read_text_file(Path(path), MAX_SPEC_BYTES, "stored cluster file", field="config", shown="workspace")
    return parse_spec(text, source=Path(path), strict=False, public_key=public_key)


def read_text_file(path: Path, limit: int, what: str, *, field: str, shown: str | None = None) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes; SpecError with one sentence otherwise.

    Opened non-blocking (a FIFO would hang a plain open) and checked to be a regular file before reading, so
    /dev/zero, a directory or a pipe get a sentence instead of exhausting memory or hanging.
    """
    label = shown
    shown = printable(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise SpecError([Problem(field, f"{what} {shown} does not exist", shown=label)]) from None
    except OSError as exc:
        raise SpecError(
            [Problem(field, f"{what} {shown} cannot be opened ({exc.strerror or exc})", shown=label)]
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(
                [Problem(field, f"{what} {shown} is not a regular file; give the path of a file", shown=label)]
            )
        if info.st_size > limit:
            raise SpecError(
                [Problem(field, f"{what} {shown} is too large ({info.st_size} bytes; at most {limit})", shown=label)]
            )
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise SpecError(
            [Problem(field, f"{what} {shown} cannot be read ({exc.strerror or exc})", shown=label)]
        ) from None
    finally:
        os.close(fd)
    if len(raw) > limit:
        raise SpecError([Problem(field, f"{what} {shown} is too large (more than {limit} bytes)", shown=label)])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError([Problem(field, f"{what} {shown} is not UTF-8 text", shown=label)]) from None


def parse_spec(text: str, catalog: Catalog | None = None, source: Path | None = None, **options: Any) -> ClusterSpec:
    """Parse and validate cluster.toml text; `options` go to `validate` (strict, public_key)."""
    where = printable(source.name) if source else "cluster.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError([Problem("cluster.toml", f"not valid TOML ({printable(str(exc))})", shown=where)]) from None
    except RecursionError:
        raise SpecError(
            [
                Problem(
                    "cluster.toml",
                    "arrays or tables are nested too deeply; a cluster.toml needs two levels",
                    shown=where,
                )
            ]
        ) from None
    base = source.parent if source else Path.cwd()
    return validate(data, catalog, base_dir=base, source=source, **options)


def validate(
    data: dict[str, Any],
    catalog: Catalog | None = None,
    *,
    base_dir: Path | None = None,
    source: Path | None = None,
    strict: bool = True,
    public_key: str = "",
) -> ClusterSpec:
    """Check a parsed cluster.toml against the schema and catalogue; all problems are raised together.

    `strict=False` is for a spec stored in a workspace (status, destroy): its shape is checked, but not today's
    catalogue (a retired type or zone) nor the key file (moved or deleted); `public_key` is then the key text.
    """
    catalog = catalog or bundled()
    problems: list[str] = []
    _check_keys(data, SCHEMA, "", problems)
    for key in REQUIRED:
        if key not in data:
            problems.append(Problem(f"{key}", "missing; it is required (see the cluster.toml example in the README)"))

    name = _get(data, "name", str, problems)
    if name is not None and not NAME_RE.fullmatch(name):
        problems.append(
            Problem(
                "name",
                f"{_show(name)} is not allowed; use 1-31 characters: a lowercase letter, then lowercase letters, "
                "digits or '-'",
            )
        )

    zones, region = _check_zones(data, catalog, problems, strict)
    managers = _check_group(data, "managers", catalog if strict else None, zones, problems)
    workers = _check_group(data, "workers", catalog if strict else None, zones, problems)

    dns = data.get("dns") if isinstance(data.get("dns"), dict) else {}
    domain = _check_domain(dns.get("domain"), problems) if "dns" in data else None
    apex = _get(dns, "apex", bool, problems, prefix="dns.", default=False)
    subdomain = _check_subdomain(dns.get("subdomain", ""), domain, problems)
    replace_existing = _get(dns, "replace_existing", bool, problems, prefix="dns.", default=False)

    ssh = data.get("ssh") if isinstance(data.get("ssh"), dict) else {}
    if not strict:
        key_path, key_text = Path(str(ssh.get("public_key", ""))), public_key
    elif "ssh" in data:
        key_path, key_text = _check_public_key(ssh.get("public_key"), base_dir, problems)
    else:
        key_path, key_text = None, None
    cidrs = _check_cidrs(ssh.get("allowed_cidrs", ["0.0.0.0/0"]), problems)

    image = _get(data, "image", str, problems, default=DEFAULT_IMAGE)
    if image is not None and not IMAGE_RE.fullmatch(image):
        problems.append(
            Problem("image", f"{_show(image)} is not an image label (like ubuntu_noble) or a local image UUID")
        )
    network = data.get("network") if isinstance(data.get("network"), dict) else {}
    subnet = _check_private_subnet(network["private_subnet"], problems) if "private_subnet" in network else None
    state = data.get("state") if isinstance(data.get("state"), dict) else {}
    bucket = check_bucket(state.get("bucket"), problems)

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
        subdomain=subdomain or "",
        replace_existing=bool(replace_existing),
        image=image,
        private_subnet=subnet,
        state_bucket=bucket,
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
        problems.append(Problem(f"{prefix}{key}", f"must be {_type_name(t)}, not {_show(value)}"))
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
            problems.append(
                Problem(
                    f"{prefix}{key}", f"unknown key; {suggestion}allowed here: {allowed}", shown=f"{prefix}{_show(key)}"
                )
            )
        elif isinstance(schema[key], dict):
            if not isinstance(value, dict):
                problems.append(Problem(f"{prefix}{key}", f"must be a table ([{prefix}{key}]), not {_show(value)}"))
            else:
                _check_keys(value, schema[key], f"{prefix}{key}.", problems)


def _check_zones(
    data: dict, catalog: Catalog, problems: list[str], strict: bool = True
) -> tuple[list[str], str | None]:
    zones = _get(data, "zones", list, problems)
    if zones is None:
        return [], None
    known = catalog.zones
    if not strict:  # a stored spec: a zone today's catalogue no longer lists still names its region
        known = {z: known.get(z) or z.rsplit("-", 1)[0] for z in zones if isinstance(z, str)} | dict(known)
    if not zones:
        problems.append(
            Problem("zones", f'needs at least one zone, e.g. ["fr-par-1"]; known zones: {", ".join(known)}')
        )
        return [], None
    if len(zones) > MAX_ZONES:
        problems.append(Problem("zones", f"at most {MAX_ZONES} zones (the zones of one region), got {len(zones)}"))
    good: list[str] = []
    for zone in zones:
        if not isinstance(zone, str) or zone not in known:
            problems.append(Problem("zones", f"{_show(zone)} is not a Scaleway zone; known zones: {', '.join(known)}"))
        elif zone in good:
            problems.append(Problem("zones", f"{zone} is listed twice; list each zone once"))
        else:
            good.append(zone)
    regions = sorted({known[z] for z in good})
    if len(regions) > 1:
        problems.append(
            Problem(
                "zones", f"must all be in one region (a private network is regional), got regions {', '.join(regions)}"
            )
        )
    return good, (regions[0] if len(regions) == 1 else None)


def _check_group(
    data: dict, role: str, catalog: Catalog | None, zones: list[str], problems: list[str]
) -> NodeGroup | None:
    """A node group; with `catalog` None (a stored spec) the type is not checked against today's catalogue."""
    table = data.get(role)
    if not isinstance(table, dict):
        return None
    count = _get(table, "count", int, problems, prefix=f"{role}.")
    type_name = _get(table, "type", str, problems, prefix=f"{role}.")
    if "count" not in table:
        problems.append(Problem(f"{role}.count", "missing; it is required"))
    if "type" not in table:
        problems.append(Problem(f"{role}.type", 'missing; it is required (e.g. "DEV1-S")'))
    if count is not None:
        if role == "managers" and count not in MANAGER_COUNTS:
            problems.append(
                Problem(
                    "managers.count",
                    f"{count} is not allowed; use 1, 3, 5 or 7 (an odd number keeps a quorum: "
                    "3 survives 1 failure, 5 survives 2)",
                )
            )
        if role == "workers" and not 0 <= count <= MAX_WORKERS:
            problems.append(Problem("workers.count", f"{count} is not allowed; use 0 to {MAX_WORKERS}"))
    if type_name is not None and catalog is not None:
        itype = catalog.types.get(type_name) or catalog.types.get(type_name.upper())
        if itype is None:
            close = difflib.get_close_matches(type_name.upper(), list(catalog.types), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            problems.append(Problem(f"{role}.type", f"{_show(type_name)} is not a Scaleway instance type{hint}"))
        else:
            missing = [z for z in zones if not itype.offered_in(z)]
            if missing:
                offered = ", ".join(z for z in itype.per_zone) or "no zone"
                problems.append(
                    Problem(
                        f"{role}.type",
                        f"{itype.name} is not offered in {', '.join(missing)}; it is offered in {offered}",
                    )
                )
            if itype.end_of_service:
                problems.append(
                    Problem(
                        f"{role}.type", f"{itype.name} is being retired by Scaleway (end of service); choose another"
                    )
                )
            type_name = itype.name
    if count is None or type_name is None:
        return None
    return NodeGroup(count, type_name)


def _check_domain(domain: Any, problems: list[str]) -> str | None:
    if domain is None:
        problems.append(Problem("dns.domain", 'missing; give a zone of your Cloudflare account, e.g. "example.com"'))
        return None
    if not isinstance(domain, str):
        problems.append(Problem("dns.domain", f"must be a string, not {_show(domain)}"))
        return None
    import idna

    candidate = domain.strip().rstrip(".")
    try:
        ascii_name = idna.encode(candidate, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        problems.append(
            Problem("dns.domain", f"{_show(domain)} is not a valid domain name (letters, digits, '-' and dots)")
        )
        return None
    labels = ascii_name.split(".")
    if len(labels) < 2 or len(ascii_name) > 253 or not re.fullmatch(r"[a-z][a-z0-9-]*", labels[-1]):
        problems.append(Problem("dns.domain", f"{_show(domain)} must be a registered domain like example.com"))
        return None
    return ascii_name


def _check_subdomain(value: Any, domain: str | None, problems: list[str]) -> str | None:
    """A DNS label sequence below the domain ("apps", "apps.eu"); "" for none."""
    label = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
    if value == "":
        return ""
    if (
        not isinstance(value, str)
        or not re.fullmatch(rf"{label}(\.{label})*", value)
        or (domain and len(value) + 1 + len(domain) > 253)
    ):
        problems.append(
            Problem(
                "dns.subdomain",
                f"{_show(value)} is not allowed; use DNS labels of lowercase letters, digits and '-' joined by dots, "
                'like "apps" (records then go to *.apps.<domain>)',
            )
        )
        return None
    return value


def _check_public_key(value: Any, base_dir: Path | None, problems: list[str]) -> tuple[Path | None, str | None]:
    if value is None:
        problems.append(
            Problem("ssh.public_key", "missing; give the path of an OpenSSH public key, e.g. ~/.ssh/id_ed25519.pub")
        )
        return None, None
    if not isinstance(value, str):
        problems.append(Problem("ssh.public_key", f"must be a path string, not {_show(value)}"))
        return None, None
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    shown = printable(str(path))
    try:
        text = read_text_file(path, MAX_PUBLIC_KEY_BYTES, "key file", field="ssh.public_key").strip()
    except SpecError as exc:
        problems.extend(exc.problems)
        return None, None
    if "PRIVATE KEY" in text:
        problems.append(
            Problem(
                "ssh.public_key",
                f"{shown} is a PRIVATE key; give the public key ({printable(path.name)}.pub) and keep the private one "
                "private",
            )
        )
        return None, None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    parts = lines[0].split() if len(lines) == 1 else []
    if len(parts) < 2 or parts[0] not in PUBLIC_KEY_TYPES:
        problems.append(
            Problem(
                "ssh.public_key", f"{shown} is not a single OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa)"
            )
        )
        return None, None
    if not _parses_as_key(parts[0], parts[1]):
        problems.append(
            Problem(
                "ssh.public_key",
                f"{shown} holds a damaged {parts[0]} key (its base64 data is not a valid key); copy the .pub file "
                "again",
            )
        )
        return None, None
    return path.resolve(), " ".join(parts[:3])


def _parses_as_key(algorithm: str, blob: str) -> bool:
    """Whether `blob` is base64 of a public key of type `algorithm` (checked now, not by the cloud at apply)."""
    import asyncssh

    try:
        raw = base64.b64decode(blob, validate=True)
        key = asyncssh.import_public_key(f"{algorithm} {blob}")
    except (ValueError, asyncssh.KeyImportError):
        return False
    return bool(raw) and key.algorithm.decode() == algorithm


def _check_cidrs(value: Any, problems: list[str]) -> list[str]:
    if not isinstance(value, list) or not value:
        problems.append(
            Problem(
                "ssh.allowed_cidrs", f'must be a non-empty list of CIDRs like ["203.0.113.0/24"], not {_show(value)}'
            )
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
                Problem(
                    "ssh.allowed_cidrs",
                    f"{_show(item)} is not a network in CIDR form like 203.0.113.0/24 (host bits zero)",
                )
            )
    return cidrs


def _check_private_subnet(value: Any, problems: list[str]) -> str | None:
    try:
        if not isinstance(value, str):
            raise ValueError
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        problems.append(
            Problem("network.private_subnet", f"{_show(value)} is not an IPv4 network in CIDR form like 172.16.8.0/22")
        )
        return None
    if net.version != 4 or not any(net.subnet_of(r) for r in RFC1918) or not 20 <= net.prefixlen <= 29:
        problems.append(
            Problem(
                "network.private_subnet",
                f"{_show(value)} must be a private IPv4 range inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 "
                "(RFC 1918) with a prefix from /20 to /29 (what Scaleway private networks take)",
            )
        )
        return None
    return str(net)


def check_bucket(value: Any, problems: list[str]) -> str | None:
    """[state] bucket: absent keeps the state local; else an S3 bucket name."""
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(Problem("state.bucket", f"must be a string, not {_show(value)}"))
        return None
    try:
        ipaddress.ip_address(value)
        is_ip = True
    except ValueError:
        is_ip = False
    if not BUCKET_RE.fullmatch(value) or ".." in value or is_ip:
        problems.append(
            Problem(
                "state.bucket",
                f"{_show(value)} is not a bucket name; use 3-63 lowercase letters, digits, '.' or '-', "
                "starting and ending with a letter or digit",
            )
        )
        return None
    return value
