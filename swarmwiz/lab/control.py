"""The lab controller swarmwiz calls: start the API daemon on demand, hand out env and credentials, clean up."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from swarmwiz.core import paths
from swarmwiz.core.errors import InputError, SwarmwizError
from swarmwiz.lab import mirror
from swarmwiz.lab import state as files

START_TIMEOUT = 15.0
# Object Storage of the lab: moto's S3 in server mode, its {pid, port, url} beside the API daemon's info.
S3_FILE = "s3.json"
CREDENTIAL_KEYS = ("SCW_ACCESS_KEY", "SCW_SECRET_KEY", "SCW_DEFAULT_PROJECT_ID", "CLOUDFLARE_API_TOKEN")


class LabError(SwarmwizError):
    """The lab could not be started or cleaned."""

    title = "Lab"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class Lab:
    """One local lab under `home` (default: swarmwiz.core.paths.lab_dir())."""

    def __init__(self, home: Path | None = None) -> None:
        self.dir = Path(home) if home is not None else paths.lab_dir()

    # ---- daemon ----
    def _daemon(self) -> dict | None:
        """The running daemon's {pid, port, url}, or None."""
        info = files.read_json(self.dir / files.DAEMON_FILE)
        if not info or not _alive(info["pid"]):
            return None
        try:
            with urllib.request.urlopen(info["url"] + "/lab/v1/health", timeout=2) as resp:
                if json.loads(resp.read()).get("pid") == info["pid"]:
                    return info
        except (OSError, ValueError):
            pass
        return None

    def ensure_running(self) -> None:
        """Start the API daemon unless it already answers; idempotent and safe across processes."""
        if self._daemon():
            return
        self.check_prerequisites()
        with files.locked(self.dir):
            if self._daemon():
                return
            files.load_credentials(self.dir)
            mirror.build(self.dir)
            (self.dir / files.DAEMON_FILE).unlink(missing_ok=True)
            log_path = self.dir / "api.log"
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "swarmwiz.lab.api", "--dir", str(self.dir)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    env={**os.environ, paths.HOME_ENV: str(paths.home())},
                    close_fds=True,
                )
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-600:]
                    raise LabError(f"the lab API exited at start (code {proc.returncode}): {tail.strip()}")
                if self._daemon():
                    return
                time.sleep(0.05)
            proc.kill()
            raise LabError(f"the lab API did not answer within {START_TIMEOUT:.0f} s; see {log_path}")

    def _s3(self) -> dict | None:
        """The running S3 server's {pid, port, url}, or None."""
        info = files.read_json(self.dir / S3_FILE)
        if not info or not _alive(info["pid"]):
            return None
        try:
            with urllib.request.urlopen(info["url"] + "/", timeout=2):
                return info
        except (OSError, ValueError):
            return None

    def _start_s3(self) -> None:
        """Start moto's S3 server on a free loopback port (caller holds the lab lock)."""
        import socket

        with socket.socket() as sock:  # the kernel picks a free port; moto binds it right after
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.dir.mkdir(parents=True, exist_ok=True)
        log_path = self.dir / "s3.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
            )
        files.write_json(self.dir / S3_FILE, {"pid": proc.pid, "port": port, "url": f"http://127.0.0.1:{port}"})
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-600:]
                raise LabError(f"the lab S3 server exited at start (code {proc.returncode}): {tail.strip()}")
            if self._s3():
                return
            time.sleep(0.1)
        proc.kill()
        raise LabError(f"the lab S3 server did not answer within {START_TIMEOUT:.0f} s; see {log_path}")

    @property
    def s3_url(self) -> str:
        """Base URL of the lab's S3 server (Object Storage of every region), started on first use: only a cluster
        with a shared state needs it, and every other lab run is spared moto's start-up."""
        self.ensure_running()
        info = self._s3()
        if info is None:
            with files.locked(self.dir):
                if self._s3() is None:
                    self._start_s3()
            info = self._s3()
        if info is None:
            raise LabError("the lab S3 server is not running")
        return info["url"]

    def _info(self) -> dict:
        self.ensure_running()
        info = files.read_json(self.dir / files.DAEMON_FILE)
        if info is None:
            raise LabError("the lab API is not running")
        return info

    @property
    def api_url(self) -> str:
        """Base URL of the lab's Scaleway API (SCW_API_URL)."""
        return self._info()["url"]

    @property
    def cloudflare_url(self) -> str:
        """Base URL of the lab's Cloudflare API (CLOUDFLARE_BASE_URL)."""
        return self._info()["url"] + "/client/v4"

    # ---- credentials and environment ----
    def credentials(self) -> dict[str, str]:
        """The lab-issued SCW_ACCESS_KEY, SCW_SECRET_KEY, SCW_DEFAULT_PROJECT_ID and CLOUDFLARE_API_TOKEN."""
        with files.locked(self.dir):
            creds = files.load_credentials(self.dir)
        return {k: creds[k] for k in CREDENTIAL_KEYS}

    def mint_cloudflare_token(
        self, *, dns_edit: bool = True, expired: bool = False, account_owned: bool = False
    ) -> str:
        """A new lab Cloudflare token: without DNS edit permission, already expired, or owned by the account (it
        verifies at /accounts/{cloudflare_account_id}/tokens/verify only), for credential tests."""
        with files.locked(self.dir):
            creds = files.load_credentials(self.dir)
            token = files.cloudflare_token()
            creds["cloudflare_tokens"][token] = files.new_token_record(
                dns_edit=dns_edit, expired=expired, account_owned=account_owned
            )
            files.write_json(self.dir / files.CREDENTIALS_FILE, creds)
        return token

    def mint_scaleway_key(
        self,
        permission_sets: list[str],
        *,
        project_scoped: bool = False,
        via_group: bool = False,
        elsewhere: dict[str, list[str]] | None = None,
    ) -> dict[str, str]:
        """A restricted lab API key carrying these IAM permission sets (e.g. ["InstancesFullAccess",
        "VPCFullAccess"]); project_scoped: its policy applies to the default project only, so organisation-level
        reads (IAM API keys, projects, quotas) answer 403. Without "IAMReadOnly" the key cannot read IAM (403), as a
        real key without it. The IAM API shows the key as an application with one policy (via_group: on a group
        of it) whose rules hold the sets; elsewhere: {project id: sets} adds rules scoped to other projects (they
        grant nothing in the lab's project). Returns SCW_ACCESS_KEY, SCW_SECRET_KEY and the project."""
        with files.locked(self.dir):
            creds = files.load_credentials(self.dir)
            project = creds["SCW_DEFAULT_PROJECT_ID"]
            secret, record = files.new_scaleway_key(
                project, permission_sets, project_scoped=project_scoped, via_group=via_group, elsewhere=elsewhere
            )
            creds.setdefault("scaleway_keys", {})[secret] = record
            files.write_json(self.dir / files.CREDENTIALS_FILE, creds)
        return {"SCW_ACCESS_KEY": record["access_key"], "SCW_SECRET_KEY": secret, "SCW_DEFAULT_PROJECT_ID": project}

    def cloudflare_account_id(self) -> str:
        """The lab Cloudflare account's id (where account-owned tokens verify)."""
        with files.locked(self.dir):
            return files.load_credentials(self.dir)["cloudflare_account_id"]

    def set_faults(self, rules: list[dict]) -> None:
        """Fault rules, read at each call. For server creation: {"match": "demo-worker-*", "action":
        "fail" | "quota" | "out_of_stock" | "delay", "seconds": 2, "message": "..."}; for any endpoint of either API:
        {"path": "/instance/v1/*", "method": "GET", "status": 429 | 503, "rate": 0.5} (429 carries Retry-After)."""
        files.write_json(self.dir / files.FAULTS_FILE, rules)

    def set_options(self, **options: object) -> None:
        """Lab options where real accounts differ, read at each call: default_vpc=False (a project created after
        2025-05-13 has no default VPC), fault_rate=0.05 (share of calls answered 429/503), quotas={"instances": 3},
        async_terminate=False (terminate at once, in any state), terminate_seconds=1.0.
        """
        with files.locked(self.dir):
            current = files.read_json(self.dir / files.OPTIONS_FILE, {})
            files.write_json(self.dir / files.OPTIONS_FILE, {**current, **options})

    def env(self) -> dict[str, str]:
        """Variables that point terraform and swarmwiz's API clients at the lab, lab credentials included."""
        info = self._info()
        creds = files.read_json(self.dir / files.CREDENTIALS_FILE)  # ensure_running created it
        return {
            **{k: creds[k] for k in (*CREDENTIAL_KEYS, "SCW_DEFAULT_ORGANIZATION_ID")},
            "SCW_API_URL": info["url"],
            "CLOUDFLARE_BASE_URL": info["url"] + "/client/v4",
            "TF_CLI_CONFIG_FILE": str(mirror.build(self.dir)),
            mirror.PYTHON_ENV: sys.executable,
            "CHECKPOINT_DISABLE": "1",  # no version check against the internet
        }

    # ---- inspection and teardown ----
    def status(self) -> dict:
        """{running, api_url, servers: [{name, zone, type, state, public_ip, private_ip, cloud_init_skipped}], ips,
        security_groups, private_networks, ssh_keys, dns_records, dns_zones}; does not start the daemon."""
        info = self._daemon()
        if info is None:
            from swarmwiz.lab.api import summarize

            state = files.read_json(self.dir / files.STATE_FILE, {})
            return {"running": False, "api_url": None, **summarize(state), "dns_zones": []}
        with urllib.request.urlopen(info["url"] + "/lab/v1/status", timeout=10) as resp:
            return {"running": True, "api_url": info["url"], **json.loads(resp.read())}

    def stop(self) -> None:
        """Stop the API daemon and the S3 server (hosts stay up)."""
        for name in (S3_FILE, files.DAEMON_FILE):
            _stop(files.read_json(self.dir / name))

    def clean(self) -> None:
        """Remove everything: the API daemon, every host (processes, mounts, namespaces, bridges), state, mirror."""
        if not self.dir.exists():
            return
        with files.locked(self.dir):
            self.stop()
            if os.geteuid() == 0:
                from swarmwiz.lab.hosts import LabNet

                LabNet(self.dir).clean()
        shutil.rmtree(self.dir, ignore_errors=True)

    def check_prerequisites(self) -> None:
        """Raise InputError naming what is missing (root, Debian packages) and how to install it."""
        if sys.platform != "linux":
            raise InputError("the lab needs Linux (network namespaces); run it on a Linux machine or VM")
        if os.geteuid() != 0:
            raise InputError(
                "the lab needs root (it creates network namespaces, bridges and daemons); "
                "run it as root, e.g. with sudo"
            )
        from swarmwiz.lab.boot import TimeScaleError, time_scale
        from swarmwiz.lab.hosts import check_prerequisites

        try:
            time_scale()  # read by the hosts in the daemon: a bad value must stop the run here, with exit 2
        except TimeScaleError as exc:
            raise InputError(str(exc)) from None
        missing = check_prerequisites()
        if missing:
            raise InputError(f"the lab needs {', '.join(missing)}; install them with scripts/setup.sh (as root)")


def _stop(info: dict | None) -> None:
    """Stop one daemon of the lab from its info {pid, ...}: TERM, then KILL after 5 s."""
    if not info or not _alive(info["pid"]):
        return
    os.kill(info["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 5
    while _alive(info["pid"]) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(info["pid"], os.WNOHANG)
        time.sleep(0.05)
    if _alive(info["pid"]):
        os.kill(info["pid"], signal.SIGKILL)


def env_exports(lab: Lab) -> str:
    """Shell `export K='V'` lines for `eval "$(swarmwiz lab env)"`."""
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(lab.env().items()))
