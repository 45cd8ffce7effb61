"""One directory per cluster: the module copy, tfvars (no secrets), the spec, the pinned known_hosts and a lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarmwiz.core import paths
from swarmwiz.core.errors import InputError, LockedError, StateUnreadable
from swarmwiz.core.paths import DIR_MODE, FILE_MODE, atomic_write, make_dir
from swarmwiz.core.spec import NAME_RE, ClusterSpec

MODULE_FILES = ("*.tf", "*.tftpl", "README.md")
OWNER_RE = re.compile(r"[0-9a-f]{12}")
__all__ = ["DIR_MODE", "FILE_MODE", "Workspace", "atomic_write", "list_workspaces"]
_PIN_COMMENT = "swarmwiz-node="  # known_hosts comment naming the node a pinned key belongs to


@dataclass(frozen=True)
class Workspace:
    """The on-disk home of one cluster; create it with `Workspace.for_name(name)`."""

    name: str
    path: Path

    @classmethod
    def for_name(cls, name: str) -> Workspace:
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise InputError(
                f"cluster name {name!r:.40} is not valid; use a lowercase letter, then up to 30 lowercase letters, "
                "digits or '-'"
            )
        return cls(name, paths.clusters_dir() / name)

    @classmethod
    def existing(cls, name: str) -> Workspace:
        """The workspace of a cluster known here; InputError naming the known clusters otherwise."""
        ws = cls.for_name(name)
        if not (ws.path / "cluster.toml").is_file():
            known = ", ".join(w.name for w in list_workspaces()) or "none"
            raise InputError(
                f"cluster {name!r} is not known here (known clusters: {known}); deploy it first, or fetch it with "
                f"`swarmwiz clone {name} --bucket BUCKET` when its state is shared"
            )
        return ws

    # -- files -------------------------------------------------------------------------------------------------
    @property
    def tfvars_path(self) -> Path:
        return self.path / "terraform.tfvars.json"

    @property
    def spec_path(self) -> Path:
        return self.path / "cluster.toml"

    @property
    def known_hosts_path(self) -> Path:
        return self.path / "known_hosts"

    @property
    def meta_path(self) -> Path:
        return self.path / "swarmwiz.json"

    @property
    def state_path(self) -> Path:
        """The Terraform state to read; with a shared state (backend.tf), the copy the pipeline pulls from the
        bucket after every Terraform run (Terraform itself reads and writes the bucket)."""
        if (self.path / "backend.tf").is_file():
            return self.path / ".terraform" / "shared.tfstate"
        return self.path / "terraform.tfstate"

    @property
    def state_backup_path(self) -> Path:
        return self.path / "terraform.tfstate.backup"

    # Workspace states after which a Terraform state must exist (an apply has finished at least once).
    DEPLOYED_STATES = frozenset({"deployed", "degraded", "destroying", "destroyed", "destroy-incomplete"})

    def tracked_ids(self) -> set[str]:
        """IDs (last path part: 'fr-par-1/<uuid>' -> '<uuid>') of every object in the Terraform state.

        Empty before the first apply. Raises StateUnreadable when the state is truncated or corrupt, or missing
        while the workspace says the cluster was deployed: then nothing may be taken for untracked.
        """
        try:
            text = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if self.meta().get("state") in self.DEPLOYED_STATES or self.state_backup_path.exists():
                raise StateUnreadable(self._unreadable("is missing although the cluster was deployed")) from None
            return set()
        except (OSError, UnicodeDecodeError) as exc:
            raise StateUnreadable(self._unreadable(f"cannot be read ({exc.__class__.__name__})")) from None
        try:
            state = json.loads(text)
            return {
                str(inst.get("attributes", {}).get("id", "")).rsplit("/", 1)[-1]
                for res in state["resources"]
                for inst in res.get("instances", [])
            } - {""}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise StateUnreadable(self._unreadable("is unreadable (truncated or corrupt)")) from None

    def _unreadable(self, what: str) -> str:
        backup = self.state_backup_path
        try:
            json.loads(backup.read_text(encoding="utf-8"))["resources"]
            hint = f"a backup is at {backup} (Terraform's previous state; copy it over the state file if it is right)"
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
            hint = "there is no readable backup; compare the cloud consoles with the workspace before going on"
        return (
            f"the state file {self.state_path} {what}, so swarmwiz cannot tell its own objects from others and "
            f"deletes nothing; {hint}"
        )

    def discard_plan(self) -> None:
        """Delete the saved plan (swarmwiz.tfplan): it holds every input in clear text, so it lives only from the
        plan to its apply (0600 meanwhile: Terraform runs under umask 077)."""
        (self.path / "swarmwiz.tfplan").unlink(missing_ok=True)

    def exists(self) -> bool:
        return self.spec_path.is_file()

    def render(self, spec: ClusterSpec, *, lab: bool | None = None, network: dict[str, str] | None = None) -> None:
        """Write the module, the spec, tfvars and any missing host keys; safe to repeat (converges).

        `network` (vpc_id, private_subnet: core/network.py) goes to tfvars and is kept for the next deploy."""
        if spec.name != self.name:
            raise InputError(f"name: the spec is for {spec.name!r}, not {self.name!r}")
        _ensure_dir(self.path)
        module = paths.terraform_module_dir()
        for pattern in MODULE_FILES:
            for src in sorted(module.glob(pattern)):
                atomic_write(self.path / src.name, src.read_bytes())
        atomic_write(self.spec_path, spec.to_toml())
        owner = self.ensure_owner_id()
        # No host key is made here: each node generates its own and publishes the fingerprints (see ssh.wait_and_pin).
        tfvars = spec.tfvars() | {"owner_id": owner} | (network or {})
        atomic_write(self.tfvars_path, json.dumps(tfvars, indent=2) + "\n")
        meta = self.meta()
        if lab is not None:
            meta["lab"] = lab
        if network:
            meta["network"] = dict(network)
        meta.setdefault("created_at", time.time())
        meta.setdefault("state", "rendered")
        self.write_meta(meta)

    @property
    def network(self) -> dict[str, str] | None:
        """The VPC and subnet an earlier render chose (kept so that a re-deploy keeps its private network)."""
        network = self.meta().get("network")
        if isinstance(network, dict):
            return network
        try:  # a workspace rendered before swarmwiz chose networks: its tfvars hold the subnet in use
            subnet = json.loads(self.tfvars_path.read_text()).get("private_subnet")
        except (OSError, ValueError, AttributeError):
            return None
        return {"private_subnet": subnet} if isinstance(subnet, str) else None

    @property
    def owner_id(self) -> str | None:
        """This workspace's owner id (12 hex digits), carried by every object of the cluster; None before render."""
        owner = self.meta().get("owner_id")
        return owner if isinstance(owner, str) and OWNER_RE.fullmatch(owner) else None

    def ensure_owner_id(self) -> str:
        """The owner id, created (random, stored in swarmwiz.json) the first time and never regenerated.

        Two workspaces with one cluster name (a CI runner, a colleague, a new machine) get different ids, so
        neither ever takes the other's objects for its own.
        """
        owner = self.owner_id
        if owner is None:
            meta = self.meta()
            if self.meta_path.exists() and not meta:
                raise InputError(
                    f"{self.meta_path} is damaged (not a JSON object); it holds the cluster's owner id: restore it "
                    "from a backup",
                    field="owner_id",
                )
            if meta.get("owner_id") is not None:  # a damaged id is not silently replaced: the cloud carries it
                raise InputError(
                    f"the owner id in {self.meta_path} is damaged ({str(meta['owner_id'])[:20]!r}); restore it "
                    "from a backup (it must be 12 hexadecimal digits)",
                    field="owner_id",
                )
            owner = secrets.token_hex(6)
            self.write_meta(meta | {"owner_id": owner})
        return owner

    def pinned_host_keys(self) -> dict[str, str]:
        """The host key pinned for each node by an earlier run: {node_key: "type base64"}."""
        pins: dict[str, str] = {}
        with contextlib.suppress(FileNotFoundError):
            for line in self.known_hosts_path.read_text().splitlines():
                fields = line.split()
                if len(fields) == 4 and fields[3].startswith(_PIN_COMMENT):
                    pins.setdefault(fields[3][len(_PIN_COMMENT) :], f"{fields[1]} {fields[2]}")
        return pins

    def write_known_hosts(self, pins: dict[str, tuple[str, list[str | None]]]) -> None:
        """Pin each node's host key for its addresses: {node_key: ("type base64", [public_ip, private_ip])};
        nodes not given keep their earlier pins only if they are still listed (a removed node's pin goes)."""
        lines = []
        for key, (public, addrs) in sorted(pins.items()):
            kind, blob = public.split()[:2]
            lines += [f"{addr} {kind} {blob} {_PIN_COMMENT}{key}" for addr in addrs if addr]
        atomic_write(self.known_hosts_path, "\n".join(lines) + ("\n" if lines else ""))

    def load_spec(self, *, strict: bool = True) -> ClusterSpec:
        """The stored spec. `strict=False` (status, destroy) checks its shape only: not today's catalogue, not the
        local key file; the public key then comes from the workspace's terraform.tfvars.json."""
        from swarmwiz.core.spec import load_spec, load_stored_spec

        if strict:
            return load_spec(self.spec_path)
        try:
            key = json.loads(self.tfvars_path.read_text()).get("ssh_public_key") or ""
        except (OSError, ValueError, AttributeError):
            key = ""
        return load_stored_spec(self.spec_path, public_key=str(key))

    # -- metadata ---------------------------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        try:
            meta = json.loads(self.meta_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write(self.meta_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")

    def set_state(self, state: str, **extra: Any) -> None:
        meta = self.meta() | extra
        meta["state"] = state
        meta["updated_at"] = time.time()
        self.write_meta(meta)

    @property
    def is_lab(self) -> bool:
        return bool(self.meta().get("lab"))

    def remove(self) -> None:
        """Forget this cluster: delete the workspace directory, under its lock (LockedError while another process
        works on the cluster; a caller that already holds the lock keeps it through the removal)."""
        if not self.path.exists():
            return
        with self.lock("forget"):
            shutil.rmtree(self.path, ignore_errors=True)

    # -- locking -----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, purpose: str, *, reentrant: bool = False) -> Iterator[None]:
        """Hold the cluster's lock for `purpose`; a second swarmwiz process (or a second lock here) gets LockedError.

        `reentrant=True` lets this thread take the lock again inside, so that a caller holds it across several
        operations (destroy, then forget) while each operation still takes it itself.
        """
        key = (str(self.path), threading.get_ident())
        if _HELD.get(key):
            _HELD[key] += 1
            try:
                yield
            finally:
                _HELD[key] -= 1
            return
        _ensure_dir(self.path)
        lock_path = self.path / ".lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                    raise
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                raise LockedError(
                    f"cluster {self.name!r} is busy: {holder}; wait for it to finish or stop it first"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"swarmwiz pid {os.getpid()} is running {purpose}".encode(), 0)
            if reentrant:
                _HELD[key] = 1
            try:
                yield
            finally:
                _HELD.pop(key, None)
        finally:
            os.close(fd)


# Re-entrant locks this process holds: (workspace path, thread id) -> depth.
_HELD: dict[tuple[str, int], int] = {}


def _ensure_dir(path: Path) -> None:
    make_dir(path, DIR_MODE)


def list_workspaces() -> list[Workspace]:
    """Clusters known here, by name."""
    root = paths.clusters_dir()
    if not root.is_dir():
        return []
    return [Workspace(p.name, p) for p in sorted(root.iterdir()) if (p / "cluster.toml").is_file()]
