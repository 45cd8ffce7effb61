"""What fifty lab hosts on one machine must not cost beyond what they model: kernel neighbour tables sized per host
(on a fake /proc/sys/net), and a `cloud-init status --wait` that polls without forking a process per check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from swarmwiz.lab import boot, kernel


def _tree(root, values: dict[str, int], families=("ipv4", "ipv6")):
    for family in families:
        d = root / family / "neigh" / "default"
        d.mkdir(parents=True)
        for name, value in values.items():
            (d / name).write_text(f"{value}\n")


def _read(root, family, name) -> int:
    return int((root / family / "neigh" / "default" / name).read_text())


def test_limits_grow_with_the_hosts_and_are_never_lowered(tmp_path):
    _tree(tmp_path, {"gc_thresh1": 128, "gc_thresh2": 512, "gc_thresh3": 1024})
    written = kernel.size_neighbour_tables(50, sysctl=tmp_path)
    for family in ("ipv4", "ipv6"):
        assert [_read(tmp_path, family, n) for n in ("gc_thresh1", "gc_thresh2", "gc_thresh3")] == [
            128 * 51,
            512 * 51,
            1024 * 51,
        ]
    assert written["ipv4/neigh/default/gc_thresh3"] == 1024 * 51 and len(written) == 6
    # fewer hosts later (another lab, or the admin's own value) never lowers a limit
    assert kernel.size_neighbour_tables(3, sysctl=tmp_path) == {}
    assert _read(tmp_path, "ipv4", "gc_thresh3") == 1024 * 51


def test_a_machine_without_ipv6_is_sized_for_ipv4_only(tmp_path):
    _tree(tmp_path, {"gc_thresh1": 128, "gc_thresh2": 512, "gc_thresh3": 1024}, families=("ipv4",))
    assert set(kernel.size_neighbour_tables(2, sysctl=tmp_path)) == {
        f"ipv4/neigh/default/{n}" for n in ("gc_thresh1", "gc_thresh2", "gc_thresh3")
    }


def test_cloud_init_wait_polls_with_builtins_and_ends_when_done(tmp_path):
    status = tmp_path / "status"
    status.write_text(boot.status_text("running", "Running in stage: modules-final"))
    script = tmp_path / "cloud-init"
    script.write_text(boot.CLOUD_INIT_SCRIPT.format(status_file=status))
    script.chmod(0o755)
    # `sed` and `grep` on PATH count their calls: the wait loop must not start them
    tools = tmp_path / "bin"
    tools.mkdir()
    calls = tmp_path / "calls"
    for name in ("sed", "grep"):
        (tools / name).write_text(f'#!/bin/sh\necho {name} >> {calls}\nexec /bin/{name} "$@"\n')
        (tools / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{tools}:/usr/bin:/bin"}

    def finish() -> None:
        time.sleep(1.0)
        (tmp_path / "status.tmp").write_text(boot.status_text("done", "DataSourceScaleway"))
        os.replace(tmp_path / "status.tmp", status)

    threading.Thread(target=finish).start()
    started = time.monotonic()
    out = subprocess.run([str(script), "status", "--wait"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.rstrip().endswith("status: done"), out
    assert out.stdout.count(".") >= 3 and time.monotonic() - started < 5  # it did wait, four checks a second
    # one `grep` prints the final status line; nothing was started per check
    assert calls.read_text().split() == ["grep"]


def test_the_boot_asks_docker_only_once_its_socket_exists(tmp_path):
    """The boot's wait for dockerd ran `docker version` (~25 ms of CPU) twenty times a second until dockerd answered;
    fifty hosts booting together made that a load of its own. Fake programs stand in for sshd, dockerd and the rest;
    the fake dockerd creates its socket after half a second."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("the boot script sets its hostname: needs root and unshare (run in a UTS namespace of its own)")
    host_dir, run_dir, tools = tmp_path / "host", tmp_path / "run", tmp_path / "tools"
    for d in (host_dir / "cloud-init", host_dir / "bin", run_dir, tools):
        d.mkdir(parents=True)
    (host_dir / "bin" / "docker.installed").write_text("#!/bin/sh\n")
    calls = tmp_path / "docker-calls"
    sock = run_dir / "docker.sock"
    programs = {
        "dockerd": f"#!/bin/sh\nsleep 0.5\nexec {sys.executable} -c 'import socket; socket.socket(socket.AF_UNIX)"
        f'.bind("{sock}")\'\n',
        "docker": f"#!/bin/sh\necho call >> {calls}\n[ -S {sock} ]\n",
        "sshd": "#!/bin/sh\n",
        "ssh-keygen": "#!/bin/sh\n",
        "curl": "#!/bin/sh\nexit 7\n",
    }
    for name, text in programs.items():
        (tools / name).write_text(text)
        (tools / name).chmod(0o755)
    script = boot.boot_script(
        boot.BootTimeline(0, 0, 0, 0),
        hostname="boot-test",
        host_dir=host_dir,
        run_dir=run_dir,
        nics=[],
        **{name.replace("-", "_"): str(tools / name) for name in programs},
    )
    out = subprocess.run(["unshare", "--uts", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "status: done" in (host_dir / "cloud-init" / "status").read_text()
    assert len(calls.read_text().split()) <= 2  # was about ten: one every 0.05 s while dockerd started
