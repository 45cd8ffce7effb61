"""A lab server's boot timeline (as recorded on Scaleway, on a time scale) and the scripts that play it on a host."""

from __future__ import annotations

import hashlib
import math
import os
import random
import shlex
from dataclasses import dataclass, fields
from pathlib import Path

from swarmwiz.lab import metadata

TIME_SCALE_ENV = "SWARMWIZ_LAB_TIME_SCALE"
# 1 plays real durations (a 3+2 deploy then waits about two minutes for its slowest node); 0.05 keeps a median
# boot near 6 s and the slowest possible one under 10 s, so a lab deploy stays well under a minute.
DEFAULT_TIME_SCALE = 0.05
_MAX_TIME_SCALE = 10.0
_Z90 = 1.2815515655446004  # the standard normal's 90th percentile
_Z99 = 2.3263478740408408


class TimeScaleError(ValueError):
    """SWARMWIZ_LAB_TIME_SCALE is not a number in the allowed range; the message says so."""


def time_scale(environ: dict[str, str] | None = None) -> float:
    """The lab's time scale from SWARMWIZ_LAB_TIME_SCALE (default 0.05; 1 = real durations, 0 = instant)."""
    text = (os.environ if environ is None else environ).get(TIME_SCALE_ENV, "").strip()
    if not text:
        return DEFAULT_TIME_SCALE
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= _MAX_TIME_SCALE:  # also false for nan
        raise TimeScaleError(
            f"{TIME_SCALE_ENV} must be a number from 0 to {_MAX_TIME_SCALE:g} (1 = real durations, 0 = instant), "
            f"not {text!r}"
        )
    return value


@dataclass(frozen=True)
class BootTimeline:
    """When each step of a server's boot happens, in seconds after its poweron.

    running: the API shows the server `running` (recorded over 58 boots: median 5 s, p90 16 s, max 35 s);
    nic: its private NIC is `available` (recorded: median 26 s, max 91 s);
    sshd: sshd answers (estimated: 15-30 s after running);
    cloud_init: cloud-init's final stage has installed and started Docker (estimated: 60-120 s after sshd).
    """

    running: float
    nic: float
    sshd: float
    cloud_init: float

    def scaled(self, scale: float) -> BootTimeline:
        return BootTimeline(*(getattr(self, f.name) * scale for f in fields(self)))


def boot_timeline(hostname: str) -> BootTimeline:
    """The real-time boot of a server named `hostname`: drawn from the recorded distributions, seeded by the
    name, so a run is reproducible and different servers boot at different speeds."""
    rng = random.Random(hashlib.sha256(f"swarmwiz-lab-boot:{hostname}".encode()).digest())
    running = _lognormal(rng, median=5.0, sigma=math.log(16 / 5) / _Z90, low=1.0, high=35.0)
    # No p90 was recorded for the NIC: the recorded maximum is taken as its 99th percentile.
    nic = _lognormal(rng, median=26.0, sigma=math.log(91 / 26) / _Z99, low=3.0, high=91.0)
    sshd = running + rng.uniform(15.0, 30.0)
    # Docker's packages come in the final stage; the lab lets it end only once the private NIC is up too, so
    # that "cloud-init done" means the node can join the swarm (the real order is not recorded).
    cloud_init = max(sshd + rng.uniform(60.0, 120.0), nic)
    return BootTimeline(running=running, nic=nic, sshd=sshd, cloud_init=cloud_init)


def _lognormal(rng: random.Random, *, median: float, sigma: float, low: float, high: float) -> float:
    return min(high, max(low, rng.lognormvariate(math.log(median), sigma)))


# ----- scripts on the host ----------------------------------------------------------------------------------

# Written as the host's /var/lib/cloud status: the lines `cloud-init status --long` prints (cloud-init 24.x).
_STATUS = """status: {status}
extended_status: {extended}
boot_status_code: enabled-by-generator
last_update: @DATE@
detail: {detail}
errors:{errors}
recoverable_errors: {{}}
"""

CLOUD_INIT_SCRIPT = """#!/bin/sh
# (the status file is the lab host's own, written by its boot script)
# cloud-init of a lab host: `cloud-init status [--wait] [--long]` answers like the real tool (cloud-init 24.x):
# exit 0 while running or when done, 1 after an error; --wait prints a dot every 0.25 s until it is not running.
file={status_file}
if [ "$1" != status ]; then
    echo "usage: cloud-init status [--wait] [--long] (the lab models only 'status')" >&2
    exit 2
fi
shift
wait=; long=
for arg in "$@"; do
    case "$arg" in
        -w|--wait) wait=1 ;;
        -l|--long) long=1 ;;
        *) echo "cloud-init status: error: unrecognized arguments: $arg" >&2; exit 2 ;;
    esac
done
# The status is read with shell builtins only: fifty hosts polling four times a second with `sed` in `$(...)` forked
# a thousand processes a second on the lab machine (the real tool polls inside one Python process, on its own CPU).
current() {{
    state=
    [ -r "$file" ] || return 0
    while IFS= read -r line; do
        case "$line" in "status: "*) state=${{line#status: }}; return 0 ;; esac
    done < "$file"
}}
current
if [ -n "$wait" ]; then
    while [ "$state" = running ] || [ -z "$state" ]; do
        printf .
        sleep 0.25
        current
    done
    echo
fi
if [ -n "$long" ]; then cat "$file"; else grep '^status: ' "$file"; fi
[ "$state" = error ] && exit 1
exit 0
"""

# Before cloud-init's final stage the image has no Docker: the command is not found.
DOCKER_ABSENT = """#!/bin/sh
echo "sh: 1: docker: not found" >&2
exit 127
"""
DOCKER_PRESENT = """#!/bin/sh
exec {docker} "$@"
"""


def status_text(status: str, detail: str, error: str | None = None) -> str:
    """A `cloud-init status --long` text for the boot script (its `@DATE@` is filled in on the host)."""
    extended = {"running": "running", "done": "done", "error": "error - done"}[status]
    errors = f"\n\t- {error}" if error else " []"
    return _STATUS.format(status=status, extended=extended, detail=detail, errors=errors)


def boot_script(
    timeline: BootTimeline,
    *,
    hostname: str,
    host_dir: Path,
    run_dir: Path,
    nics: list[str],
    sshd: str,
    dockerd: str,
    docker: str,
    ssh_keygen: str = "ssh-keygen",
    curl: str = "curl",
    cloud_init_error: str | None = None,
) -> str:
    """The shell script that plays `timeline` (already scaled) inside a host: hostname, then private NICs up,
    sshd, and at the end of cloud-init's final stage dockerd and the `docker` command; it writes the
    cloud-init status at each step. Every value is quoted here, so nothing from outside reaches the shell."""
    q = shlex.quote
    status_file = host_dir / "cloud-init" / "status"

    def set_status(status: str, detail: str, error: str | None = None) -> str:
        # A quoted heredoc is never expanded by the shell; sed only fills in the time of the update.
        text = status_text(status, detail, " ".join((error or "").split()) or None)
        target = q(str(status_file))
        fill = f"sed \"s/@DATE@/$(date -R)/\" > {target}.tmp <<'SWARMWIZ_EOF'"
        return f"{fill}\n{text}SWARMWIZ_EOF\nmv {target}.tmp {target}"

    key = host_dir / "ssh_host_ed25519_key"
    # cloud-init's init stage, just before sshd starts: the image generates its host key on the node (unless
    # user data brought one) and publishes the fingerprints in its own user data through the metadata API, as
    # Scaleway's scw-generate-ssh-keys does (see swarmwiz.lab.metadata); the Instance API then serves them.
    keys = "\n".join(
        [
            f"[ -s {q(str(key))} ] || {q(ssh_keygen)} -q -t ed25519 -N '' -C {q('root@' + hostname)} -f {q(str(key))}",
            f"[ -s {q(str(key))}.pub ] || {q(ssh_keygen)} -y -f {q(str(key))} > {q(str(key))}.pub",
            metadata.publish_command("ssh-host-fingerprints", f"{q(ssh_keygen)} -l -f {q(str(key))}.pub", curl=curl),
        ]
    )
    steps: list[tuple[float, str]] = [
        (timeline.nic, "\n".join(f"ip link set {q(nic)} up" for nic in nics) or ":"),
        (
            timeline.sshd,
            keys
            + f"\n{q(sshd)} -f {q(str(host_dir / 'sshd_config'))} -E {q(str(host_dir / 'sshd.log'))}\n"
            + set_status("running", "Running in stage: modules-final"),
        ),
    ]
    if cloud_init_error:
        final = set_status("error", "DataSourceScaleway", cloud_init_error)
    else:
        sock = run_dir / "docker.sock"
        final = "\n".join(
            [
                f"{q(dockerd)} --data-root {q(str(run_dir / 'data'))} --exec-root {q(str(run_dir / 'exec'))} "
                f"-H {q('unix://' + str(sock))} --pidfile {q(str(run_dir / 'docker.pid'))} --iptables=false "
                f"--bridge=none --storage-driver=vfs >{q(str(host_dir / 'dockerd.log'))} 2>&1 </dev/null &",
                "tries=0",
                # `docker version` (a Go program, ~25 ms of CPU) only once the socket exists: twenty a second per
                # host while dockerd starts was a load of its own when fifty hosts booted together
                f"until [ -S {q(str(sock))} ] && {q(docker)} -H {q('unix://' + str(sock))} version >/dev/null 2>&1; do",
                "    tries=$((tries + 1))",
                "    if [ $tries -gt 600 ]; then",
                set_status("error", "DataSourceScaleway", "dockerd did not answer within 30 s"),
                "        exit 1",
                "    fi",
                "    sleep 0.05",
                "done",
                f"mv {q(str(host_dir / 'bin' / 'docker.installed'))} {q(str(host_dir / 'bin' / 'docker'))}",
                set_status("done", "DataSourceScaleway"),
            ]
        )
    steps.append((timeline.cloud_init, final))
    lines = [
        "#!/bin/sh",
        "# The boot of a lab server, played on the lab's time scale (see swarmwiz.lab.boot).",
        f"hostname {q(hostname)}",
        set_status("running", "Running in stage: init"),
    ]
    now = 0.0
    for at, command in sorted(steps, key=lambda step: step[0]):
        if at > now:
            lines.append(f"sleep {at - now:.3f}")
            now = at
        lines.append(command)
    return "\n".join(lines) + "\n"
