"""Lab hosts: hostname, pinned-key sshd, docker over SSH, nftables on the public side, clean teardown."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostlab import PRIVATE_NETWORK, leftovers, make_client_key, start_hosts, swarm_firewall, tcp_open

from swarmwiz.core import ssh
from swarmwiz.core.errors import RemoteError
from swarmwiz.core.hostkeys import generate_host_key, known_hosts_line
from swarmwiz.lab import kernel
from swarmwiz.lab.firewall import Firewall, FirewallRule, firewall_ruleset
from swarmwiz.lab.hosts import HostSpec, LabNet, check_prerequisites
from swarmwiz.lab.kernel import NETNS_DIR, LabHostError

needs_lab = pytest.mark.skipif(bool(check_prerequisites()), reason=f"lab needs: {check_prerequisites()}")


# ----- rules, no kernel needed ------------------------------------------------------------------------------


def test_ruleset_follows_the_security_group():
    text = firewall_ruleset(
        Firewall(
            "drop",
            True,
            [
                FirewallRule("accept", "TCP", 22, None, "203.0.113.0/24"),
                FirewallRule("accept", "UDP", None, "7946-7950", None),
                FirewallRule("drop", "ANY", None, None, "198.51.100.7"),
                FirewallRule("accept", "ICMP"),
            ],
        )
    )
    body = [line.strip() for line in text.splitlines()]
    assert 'iifname != "eth0" accept' in body  # private NICs unfiltered
    assert "ct state established,related accept" in body
    assert "ip saddr 203.0.113.0/24 tcp dport 22 accept" in body
    assert "udp dport 7946-7950 accept" in body
    assert "ip saddr 198.51.100.7/32 drop" in body
    assert body[-3] == "drop"  # the inbound default policy comes last
    stateless = firewall_ruleset(Firewall("accept", False, []))
    assert "ct state" not in stateless


@pytest.mark.parametrize(
    "rule",
    [
        FirewallRule("accept", "TCP", 70000),
        FirewallRule("allow", "TCP", 22),
        FirewallRule("accept", "ESP"),
        FirewallRule("accept", "TCP", None, "22; flush ruleset"),
        FirewallRule("accept", "TCP", 22, None, "0.0.0.0/0 accept"),
    ],
)
def test_hostile_or_invalid_rules_are_rejected(rule):
    with pytest.raises(LabHostError):
        firewall_ruleset(Firewall("drop", True, [rule]))


# ----- five real hosts --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        base = tmp_path_factory.mktemp("hosts")
        mp.setenv("SWARMWIZ_HOME", str(base / "home"))
        started = time.monotonic()
        lab = start_hosts(base, ["manager", "manager", "manager", "worker", "worker"])
        print(f"\n5 lab hosts up in {time.monotonic() - started:.2f}s")
        yield lab
        lab.close()


@pytest.fixture(scope="module")
def listener(lab):
    """Something listening on the swarm ports in host 1, so "closed" means filtered, not "nobody there"."""
    code = (
        "import socket,select\nss=[]\nfor p in (2377,7946):\n s=socket.socket();s.setsockopt(socket.SOL_SOCKET,"
        "socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',p));s.listen(16);ss.append(s)\nprint('ready',flush=True)\n"
        "while True:\n for s in select.select(ss,[],[])[0]: s.accept()[0].close()"
    )
    proc = subprocess.Popen(
        ["nsenter", f"--net={NETNS_DIR / lab.hosts[0].netns}", sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    yield lab.hosts[0]
    proc.kill()
    proc.wait()


@pytest.mark.lab
@pytest.mark.slow
@needs_lab
async def test_each_host_has_its_hostname_and_docker_over_ssh(lab):
    for host in lab.hosts:
        conn = await ssh.connect(
            host.node.public_ip, known_hosts=lab.known_hosts, client_keys=[lab.client_key], node=host.node.key
        )
        async with conn:
            assert (await ssh.run(conn, ["hostname"])).strip() == host.node.name
            # dockerd shares the host's UTS namespace: the swarm will list the node by this name
            assert (await ssh.run(conn, ["docker", "info", "--format", "{{.Name}}"])).strip() == host.node.name
            addresses = await ssh.run(conn, ["ip", "-br", "addr"])
            assert host.node.private_ip in addresses and host.node.public_ip in addresses


@pytest.mark.lab
@pytest.mark.slow
@needs_lab
async def test_a_wrong_pinned_key_is_refused(lab, tmp_path):
    node = lab.hosts[0].node
    _, other_public = generate_host_key()
    wrong = tmp_path / "known_hosts"
    wrong.write_text(known_hosts_line(node.public_ip, other_public) + "\n")
    with pytest.raises(RemoteError) as refused:
        await ssh.connect(node.public_ip, known_hosts=wrong, client_keys=[lab.client_key], node=node.key)
    assert refused.value.title == "SSH host key changed"
    assert node.key in str(refused.value) and node.public_ip in str(refused.value)
    # waiting cannot fix a changed key: wait_for_ssh gives up at once instead of retrying to its timeout
    started = time.monotonic()
    with pytest.raises(RemoteError, match="does not match"):
        await ssh.wait_for_ssh(
            node.public_ip, known_hosts=wrong, client_keys=[lab.client_key], node=node.key, timeout=30
        )
    assert time.monotonic() - started < 20
    # the explicit-key form pins too
    with pytest.raises(RemoteError, match="does not match"):
        await ssh.connect(node.public_ip, host_key=other_public, client_keys=[lab.client_key])
    conn = await ssh.connect(node.public_ip, host_key=lab.hosts[0].host_key_public, client_keys=[lab.client_key])
    conn.close()


@pytest.mark.lab
@pytest.mark.slow
@needs_lab
async def test_a_foreign_client_key_is_refused(lab, tmp_path):
    stranger, _ = make_client_key(tmp_path)
    node = lab.hosts[0].node
    with pytest.raises(RemoteError, match="not authorized"):
        await ssh.connect(node.public_ip, known_hosts=lab.known_hosts, client_keys=[stranger], node=node.key)


@pytest.mark.lab
@pytest.mark.slow
@needs_lab
async def test_run_quotes_arguments_and_reports_failures(lab):
    node = lab.hosts[0].node
    async with await ssh.connect(
        node.public_ip, known_hosts=lab.known_hosts, client_keys=[lab.client_key], node=node.key
    ) as conn:
        hostile = "$(touch /tmp/pwned); `id`; echo 'x' \"y\" | cat"
        assert await ssh.run(conn, ["printf", "%s", hostile]) == hostile
        with pytest.raises(RemoteError) as failed:
            await ssh.run(conn, ["sh", "-c", "echo boom-s3cret >&2; exit 3", "s3cret"], redact=("s3cret",))
        message = str(failed.value)
        assert "exited with 3" in message and node.key in message and "boom-***" in message
        assert "s3cret" not in message
        assert await ssh.run(conn, ["sh", "-c", "read -r line; echo got:$line"], input="hello\n") == "got:hello\n"


@pytest.mark.lab
@pytest.mark.slow
@needs_lab
async def test_wait_for_ssh_times_out_saying_what_it_waited_for(lab):
    ghost = str(lab.net.public_subnet.network_address + 250)  # in the lab's subnet, no host there
    with pytest.raises(RemoteError, match=rf"timed out after 1s waiting for SSH on ghost \({ghost}\)"):
        await ssh.wait_for_ssh(
            ghost, known_hosts=lab.known_hosts, client_keys=[lab.client_key], node="ghost", timeout=1, interval=0.2
        )
    node = lab.hosts[0].node
    await ssh.wait_for_ssh(
        node.public_ip, known_hosts=lab.known_hosts, client_keys=[lab.client_key], name=node.key, timeout=10
    )


@pytest.mark.lab
@pytest.mark.slow
@needs_lab
def test_public_side_is_filtered_private_side_is_open(lab, listener):
    target = listener.node
    peer = lab.hosts[3].netns
    assert tcp_open(target.public_ip, 22)
    assert not tcp_open(target.public_ip, 2377)
    assert not tcp_open(target.public_ip, 7946)
    assert tcp_open(target.private_ip, 2377, netns=peer)
    assert tcp_open(target.private_ip, 7946, netns=peer)
    assert tcp_open(target.private_ip, 22, netns=peer)  # sshd listens on the private address too
    # the firewall is what closes it: open 2377 to the gateway only and it answers from the root namespace
    opened = swarm_firewall()
    opened.rules.append(FirewallRule("accept", "TCP", 2377, None, f"{lab.net.public_gateway}/32"))
    lab.net.update_firewall(listener.host_id, opened)
    try:
        assert tcp_open(target.public_ip, 2377)
        assert not tcp_open(target.public_ip, 7946)
    finally:
        lab.net.update_firewall(listener.host_id, swarm_firewall())
    assert not tcp_open(target.public_ip, 2377)


@pytest.mark.lab
@pytest.mark.slow
@needs_lab
async def test_delete_host_removes_one_host_only(lab):
    net = lab.net
    private, public = generate_host_key()
    address = str(net.public_subnet.network_address + 100)
    net.create_host(
        HostSpec(
            "srv-extra", "extra", address, [(PRIVATE_NETWORK, "172.16.8.100", 22)], [], private, public, Firewall()
        )
    )
    netns = net.netns("srv-extra")
    assert "srv-extra" in net.hosts()
    with pytest.raises(LabHostError, match="already exists"):
        net.create_host(
            HostSpec("srv-extra", "extra", None, [(PRIVATE_NETWORK, "172.16.8.101", 22)], [], None, None, Firewall())
        )
    with pytest.raises(LabHostError, match="already used"):
        net.create_host(HostSpec("srv-other", "other", address, [], [], None, None, Firewall()))
    # a parallel destroy deletes from several threads at once (as the lab API serves terraform)
    second = str(net.public_subnet.network_address + 101)
    net.create_host(HostSpec("srv-extra-2", "extra-2", second, [], [], None, None, Firewall()))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        list(pool.map(net.delete_host, ["srv-extra", "srv-extra-2", "srv-extra"]))  # missing is fine
    assert "srv-extra" not in net.hosts() and "srv-extra-2" not in net.hosts()
    assert not (NETNS_DIR / netns).exists()
    assert not net.host_dir("srv-extra").exists()
    assert not tcp_open(address, 22) and not tcp_open(second, 22)
    assert tcp_open(lab.hosts[0].node.public_ip, 22)  # the others still run


@pytest.mark.lab
@pytest.mark.slow
@needs_lab
def test_ensure_removes_stale_objects_and_agrees_across_instances(lab):
    net = lab.net
    stale_ns, stale_link = f"{net.prefix}-h999", f"{net.prefix}999e0"
    subprocess.run(["ip", "netns", "add", stale_ns], check=True)
    subprocess.run(["ip", "link", "add", stale_link, "type", "bridge"], check=True)
    again = LabNet(net.lab_dir)  # a second process would read the same persisted choices
    again.ensure()
    assert not (NETNS_DIR / stale_ns).exists()
    assert not Path("/sys/class/net", stale_link).exists()
    assert again.public_subnet == net.public_subnet and again.public_gateway == net.public_gateway
    assert sorted(again.hosts()) == sorted(h.host_id for h in lab.hosts)
    assert tcp_open(lab.hosts[0].node.public_ip, 22)  # known hosts were left alone


@pytest.mark.lab
@pytest.mark.slow
@needs_lab
def test_clean_leaves_nothing(lab):
    assert leftovers(lab.net)["processes"]  # sanity: the check sees a running lab
    lab.close()
    assert leftovers(lab.net) == {"netns": [], "links": [], "mounts": [], "processes": []}
    ip_netns = subprocess.run(["ip", "netns"], capture_output=True, text=True).stdout
    ip_link = subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
    assert lab.net.prefix not in ip_netns and lab.net.prefix not in ip_link
    assert lab.net.hosts() == []
    lab.close()  # safe to repeat


def test_missing_prerequisites_are_named_with_their_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(kernel, "_SBIN", ())
    missing = check_prerequisites()
    assert "sshd (Debian package openssh-server)" in missing
    assert "dockerd (Debian package docker.io)" in missing
    assert "nft (Debian package nftables)" in missing


@pytest.mark.lab
@pytest.mark.slow
@needs_lab
def test_a_lab_whose_directory_was_deleted_is_cleaned_by_the_next_one(tmp_path):
    import shutil

    orphan = LabNet(tmp_path / "orphan" / "lab")
    orphan.ensure()
    orphan.create_host(
        HostSpec("srv-1", "orphan-1", str(orphan.public_subnet.network_address + 10), [], [], None, None, Firewall())
    )
    assert leftovers(orphan)["processes"]
    # a deleted tmp dir: its kernel objects and daemons live on (and no mount stops the rm half-way)
    shutil.rmtree(tmp_path / "orphan")
    other = LabNet(tmp_path / "other" / "lab")
    try:
        other.ensure()
        assert leftovers(orphan) == {"netns": [], "links": [], "mounts": [], "processes": []}
    finally:
        other.clean()
        orphan.clean()


# ----- the boot timeline ------------------------------------------------------------------------------------


def test_boot_timelines_follow_the_recorded_distributions():
    import statistics

    from swarmwiz.lab.boot import boot_timeline

    timelines = [boot_timeline(f"demo-node-{i}") for i in range(3000)]
    assert boot_timeline("demo-node-7") == timelines[7]  # seeded by the name: reproducible
    assert len({t.sshd for t in timelines[:50]}) == 50  # and different per server

    def quantiles(name):
        values = sorted(getattr(t, name) for t in timelines)
        return statistics.median(values), values[int(0.9 * len(values))], values[-1]

    median, p90, top = quantiles("running")
    assert 4.5 <= median <= 5.5 and 14 <= p90 <= 18 and top <= 35
    median, _, top = quantiles("nic")
    assert 23 <= median <= 29 and top <= 91
    for t in timelines:
        assert 15 <= t.sshd - t.running <= 30
        assert t.cloud_init >= t.nic and (60 <= t.cloud_init - t.sshd <= 120 or t.cloud_init == t.nic)
    scaled = timelines[0].scaled(0.05)
    assert scaled.cloud_init == pytest.approx(timelines[0].cloud_init * 0.05)


@pytest.mark.parametrize("text", ["fast", "-1", "nan", "1e9", "inf"])
def test_a_bad_time_scale_is_named(monkeypatch, text):
    from swarmwiz.lab.boot import TIME_SCALE_ENV, TimeScaleError, time_scale

    monkeypatch.setenv(TIME_SCALE_ENV, text)
    with pytest.raises(TimeScaleError, match=TIME_SCALE_ENV):
        time_scale()
    monkeypatch.setenv(TIME_SCALE_ENV, "0.5")
    assert time_scale() == 0.5
    monkeypatch.delenv(TIME_SCALE_ENV)
    assert 0 < time_scale() <= 0.1


@pytest.mark.lab
@pytest.mark.slow
@needs_lab
async def test_a_host_boots_on_the_recorded_timeline(tmp_path):
    """sshd answers only after its time, Docker is absent until cloud-init's final stage, and `cloud-init
    status` answers like the real tool meanwhile; a failing final stage shows as an error."""
    from swarmwiz.lab.boot import boot_timeline

    scale = 0.1
    net = LabNet(tmp_path / "lab")
    net.ensure()
    key, public = make_client_key(tmp_path)
    host_private, host_public = generate_host_key()
    address = str(net.public_subnet.network_address + 10)
    timeline = boot_timeline("booting").scaled(scale)
    try:
        started = time.monotonic()
        spec = HostSpec(
            "srv-boot",
            "booting",
            address,
            [(PRIVATE_NETWORK, "172.16.8.10", 22)],
            [public],
            host_private,
            host_public,
            swarm_firewall(),
            time_scale=scale,
        )
        net.create_host(spec)
        assert time.monotonic() - started < timeline.sshd  # powering on does not wait for the boot
        assert not tcp_open(address, 22)
        await ssh.wait_for_ssh(address, host_key=host_public, client_keys=[key], timeout=60, interval=0.1)
        answered = time.monotonic() - started
        assert answered >= timeline.sshd - 0.2
        async with await ssh.connect(address, host_key=host_public, client_keys=[key]) as conn:
            assert (await ssh.run(conn, ["cloud-init", "status"])) == "status: running\n"
            long = await ssh.run(conn, ["cloud-init", "status", "--long"])
            assert "extended_status: running" in long and "detail: Running in stage: modules-final" in long
            missing = await conn.run("docker info", check=False)
            assert missing.exit_status == 127 and "not found" in missing.stderr
            waited = await ssh.run(conn, ["cloud-init", "status", "--wait"], timeout=60)
            done = time.monotonic() - started
            assert waited.startswith(".") and waited.endswith("\nstatus: done\n")
            assert done >= timeline.cloud_init - 0.2 and done < timeline.cloud_init + 10
            assert (await ssh.run(conn, ["docker", "info", "--format", "{{.Name}}"])).strip() == "booting"
            long = await ssh.run(conn, ["cloud-init", "status", "--long"])
            assert long.splitlines()[:2] == ["status: done", "extended_status: done"]
            assert "errors: []" in long and "last_update: " in long
        print(
            f"\nsshd after {answered:.1f}s (timeline {timeline.sshd:.1f}s), cloud-init done after {done:.1f}s "
            f"(timeline {timeline.cloud_init:.1f}s)"
        )

        failing = HostSpec(
            "srv-fail",
            "failing",
            str(net.public_subnet.network_address + 11),
            [],
            [public],
            *generate_host_key(),
            Firewall(),
            time_scale=0,
            cloud_init_error="apt-get install docker.io failed",
        )
        with pytest.raises(LabHostError, match="cloud-init failed"):
            net.create_host(failing, wait=True)
        net.create_host(failing)
        fail_key = failing.host_key_public
        await ssh.wait_for_ssh(failing.public_ip, host_key=fail_key, client_keys=[key], timeout=30)
        async with await ssh.connect(failing.public_ip, host_key=fail_key, client_keys=[key]) as conn:
            result = await conn.run("cloud-init status --wait --long", check=False)
            assert result.exit_status == 1
            assert "status: error" in result.stdout and "apt-get install docker.io failed" in result.stdout
            assert (await conn.run("docker info", check=False)).exit_status == 127
    finally:
        net.clean()
    assert leftovers(net) == {"netns": [], "links": [], "mounts": [], "processes": []}


@pytest.mark.lab
@pytest.mark.slow
@needs_lab
async def test_a_host_generates_its_key_publishes_fingerprints_and_is_pinned_by_them(tmp_path):
    """No host private key is handed to the host: it generates one as it boots and publishes the fingerprints
    (as Scaleway images do); a client pins the key that matches them and refuses any other."""
    from swarmwiz.core.hostkeys import fingerprint, parse_fingerprints
    from swarmwiz.lab.metadata import Instance, StaticSource

    net = LabNet(tmp_path / "lab")
    net.ensure()
    key, public = make_client_key(tmp_path)
    address = str(net.public_subnet.network_address + 10)
    # The host publishes through the metadata API (169.254.42.42), here served from a fixed source.
    user_data: dict[str, str] = {}
    net.serve_metadata(StaticSource({address: Instance({"id": "srv-own"}, user_data)}))
    try:
        net.create_host(HostSpec("srv-own", "own-key", address, [], [public], None, None, Firewall(), time_scale=0))
        deadline = time.monotonic() + 30
        while not user_data.get("ssh-host-fingerprints") and time.monotonic() < deadline:
            time.sleep(0.05)
        published = user_data.get("ssh-host-fingerprints", "")
        print(f"\npublished: {published.strip()}")
        assert "(ED25519)" in published and "root@own-key" in published
        fingerprints = parse_fingerprints(published)
        host_public = (net.host_dir("srv-own") / "ssh_host_ed25519_key.pub").read_text()
        assert fingerprints == {fingerprint(host_public)}
        await ssh.wait_for_ssh(address, host_key=host_public, client_keys=[key], timeout=30, interval=0.1)

        pinned = await ssh.pin_host_key(address, fingerprints, client_keys=[key], node="own-key")
        assert pinned == " ".join(host_public.split()[:2])
        known = tmp_path / "known_hosts"
        known.write_text(known_hosts_line(address, pinned) + "\n")
        async with await ssh.connect(address, known_hosts=known, client_keys=[key]) as conn:
            assert (await ssh.run(conn, ["hostname"])).strip() == "own-key"

        _, stranger = generate_host_key()  # a server replaced, or someone in between: another key
        with pytest.raises(RemoteError) as refused:
            await ssh.pin_host_key(address, frozenset({fingerprint(stranger)}), client_keys=[key], node="own-key")
        assert refused.value.title == "SSH host key changed" and "fingerprints it published" in str(refused.value)
        with pytest.raises(RemoteError, match="published no host key fingerprint"):
            await ssh.pin_host_key(address, frozenset(), client_keys=[key], node="own-key")

        # wait_and_pin: waits for the publication, keeps an earlier pin that still matches, refuses a replaced one
        calls = []

        async def published() -> str:
            calls.append(1)
            return "" if len(calls) < 3 else user_data.get("ssh-host-fingerprints", "")

        again = await ssh.wait_and_pin(address, published, pinned=pinned, client_keys=[key], interval=0.05)
        assert again == pinned and len(calls) == 3
        with pytest.raises(RemoteError) as replaced:
            await ssh.wait_and_pin(address, published, pinned=" ".join(stranger.split()[:2]), client_keys=[key])
        assert replaced.value.title == "SSH host key changed" and "replaced" in str(replaced.value)

        async def nothing() -> str:
            return ""

        waited = r"timed out after 0.3s waiting for SSH on own-key \(.*last: no fingerprints published yet"
        with pytest.raises(RemoteError, match=waited):
            await ssh.wait_and_pin(address, nothing, client_keys=[key], node="own-key", timeout=0.3, interval=0.1)
    finally:
        net.clean()
        net.stop_metadata()
    assert leftovers(net) == {"netns": [], "links": [], "mounts": [], "processes": []}


def test_fingerprints_are_read_from_ssh_keygen_lines():
    from swarmwiz.core.hostkeys import fingerprint, parse_fingerprints

    _, public = generate_host_key()
    line = f"256 {fingerprint(public)} root@node (ED25519)\n3072 MD5:12:34 root@node (RSA)\n"
    assert parse_fingerprints(line) == {fingerprint(public)}
    assert parse_fingerprints("") == frozenset() and parse_fingerprints("SHA256:short") == frozenset()


@needs_lab
def test_the_lab_refuses_a_bad_time_scale_before_starting(monkeypatch, tmp_path):
    from swarmwiz.core.errors import InputError
    from swarmwiz.lab import Lab

    monkeypatch.setenv("SWARMWIZ_LAB_TIME_SCALE", "quick")
    with pytest.raises(InputError, match="SWARMWIZ_LAB_TIME_SCALE must be a number from 0 to 10"):
        Lab(tmp_path / "lab").ensure_running()
    assert not (tmp_path / "lab").exists()
