"""What fifty lab hosts on one machine must not cost beyond what they model: kernel neighbour tables sized per host
(on a fake /proc/sys/net), and a `cloud-init status --wait` that polls without forking a process per check."""

from __future__ import annotations

import os
import subprocess
import threading
import time

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
