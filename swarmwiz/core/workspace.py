"""One directory per cluster: the module copy, tfvars (no secrets), the spec, the pinned known_hosts and a lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarmwiz.core import paths
from swarmwiz.core.errors import InputError, LockedError
from swarmwiz.core.spec import NAME_RE, ClusterSpec

MODULE_FILES = ("*.tf", "*.tftpl", "README.md")
DIR_MODE = 0o700
FILE_MODE = 0o600
_PIN_COMMENT = "swarmwiz-node="  # known_hosts comment naming the node a pinned key belongs to


def atomic_write(path: Path, data: str | bytes, mode: int = FILE_MODE) -> None:
    """Write `data` to `path` so that readers see the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class Workspace:
    """The on-disk home of one cluster; create it with `Workspace.for_name(name)`."""

    name: str
    path: Path

    @classmethod
    def for_name(cls, name: str) -> Workspace:
        if not isinstance(name, str) or not NAME_RE.match(name):
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
            raise InputError(f"cluster {name!r} is not known here (known clusters: {known}); deploy it first")
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
        return self.path / "terraform.tfstate"

    def exists(self) -> bool:
        return self.spec_path.is_file()

    def render(self, spec: ClusterSpec, *, lab: bool | None = None) -> None:
        """Write the module, the spec, tfvars and any missing host keys; safe to repeat (converges)."""
        if spec.name != self.name:
            raise InputError(f"name: the spec is for {spec.name!r}, not {self.name!r}")
        _ensure_dir(self.path)
        module = paths.terraform_module_dir()
        for pattern in MODULE_FILES:
            for src in sorted(module.glob(pattern)):
                atomic_write(self.path / src.name, src.read_bytes())
        atomic_write(self.spec_path, spec.to_toml())
        # No host key is made here: each node generates its own and publishes the fingerprints (see ssh.wait_and_pin).
        atomic_write(self.tfvars_path, json.dumps(spec.tfvars(), indent=2) + "\n")
        meta = self.meta()
        if lab is not None:
            meta["lab"] = lab
        meta.setdefault("created_at", time.time())
        meta.setdefault("state", "rendered")
        self.write_meta(meta)

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

    def load_spec(self) -> ClusterSpec:
        from swarmwiz.core.spec import load_spec

        return load_spec(self.spec_path)

    # -- metadata ---------------------------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        try:
            return json.loads(self.meta_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

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
        """Forget this cluster: delete the workspace directory."""
        shutil.rmtree(self.path, ignore_errors=True)

    # -- locking -----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, purpose: str) -> Iterator[None]:
        """Hold the cluster's lock for `purpose`; a second swarmwiz process gets LockedError at once."""
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
            yield
        finally:
            os.close(fd)


def _ensure_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)


def list_workspaces() -> list[Workspace]:
    """Clusters known here, by name."""
    root = paths.clusters_dir()
    if not root.is_dir():
        return []
    return [Workspace(p.name, p) for p in sorted(root.iterdir()) if (p / "cluster.toml").is_file()]
