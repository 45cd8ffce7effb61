"""Lab files under lab_dir: resource state, lab-issued credentials, fault settings; JSON, 0600, written atomically."""

from __future__ import annotations

import contextlib
import fcntl
import json
import secrets
import string
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from swarmwiz.core.workspace import atomic_write

STATE_FILE = "state.json"
CREDENTIALS_FILE = "credentials.json"
DAEMON_FILE = "api.json"
FAULTS_FILE = "faults.json"
OPTIONS_FILE = "options.json"
LOCK_FILE = "lab.lock"


def write_json(path: Path, data: Any) -> None:
    """Write `data` as JSON so that readers see the old or the new file, never half of one (mode 0600)."""
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True))


def read_json(path: Path, default: Any = None) -> Any:
    """The JSON in `path`, or `default` when the file does not exist."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


@contextlib.contextmanager
def locked(lab_dir: Path) -> Iterator[None]:
    """Hold the lab's file lock: serialises daemon start, credential minting and clean across processes."""
    lab_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(lab_dir / LOCK_FILE, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _access_key() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "SCW" + "".join(secrets.choice(alphabet) for _ in range(17))


def cloudflare_token() -> str:
    """A 40-character token in the alphabet the Cloudflare provider accepts."""
    return secrets.token_urlsafe(30)


def new_token_record(*, dns_edit: bool = True, expired: bool = False, account_owned: bool = False) -> dict:
    return {
        "id": uuid.uuid4().hex,
        "status": "expired" if expired else "active",
        "dns_edit": dns_edit,
        "expires_on": "2020-01-01T00:00:00Z" if expired else None,
        "account_owned": account_owned,  # verifies at /accounts/{id}/tokens/verify, not /user/tokens/verify
    }


# The default lab key can do everything swarmwiz needs, as an organisation owner's key can.
DEFAULT_PERMISSION_SETS = ["AllProductsFullAccess", "IAMReadOnly", "ProjectReadOnly"]


def new_scaleway_key(
    project_id: str,
    permission_sets: list[str],
    *,
    project_scoped: bool,
    via_group: bool = False,
    elsewhere: dict[str, list[str]] | None = None,
) -> tuple[str, dict]:
    """(secret key, its record) for a restricted lab API key: an IAM application whose policy (on the application,
    or on a group of it when via_group) holds the permission sets; elsewhere: more rules, each scoped to another
    project ({project id: sets}), from which the lab's one project never gets anything."""
    return str(uuid.uuid4()), {
        "access_key": _access_key(),
        "default_project_id": project_id,
        "permission_sets": list(permission_sets),
        "project_scoped": project_scoped,
        "via_group": via_group,
        "elsewhere": dict(elsewhere or {}),
    }


def load_credentials(lab_dir: Path) -> dict:
    """The lab's credentials, created on first use (caller holds `locked`)."""
    path = lab_dir / CREDENTIALS_FILE
    creds = read_json(path)
    if creds is None:
        token = cloudflare_token()
        creds = {
            "SCW_ACCESS_KEY": _access_key(),
            "SCW_SECRET_KEY": str(uuid.uuid4()),
            "SCW_DEFAULT_PROJECT_ID": str(uuid.uuid4()),
            "SCW_DEFAULT_ORGANIZATION_ID": str(uuid.uuid4()),
            "CLOUDFLARE_API_TOKEN": token,
            "cloudflare_account_id": uuid.uuid4().hex,
            "cloudflare_tokens": {token: new_token_record()},
        }
        write_json(path, creds)
    return creds
