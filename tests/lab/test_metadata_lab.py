"""Scaleway's metadata API in the lab: each host asks 169.254.42.42 about itself, writes its user data only from a
privileged source port, never sees another server's data, and publishes its host key fingerprints there."""

from __future__ import annotations

import json
import shlex
import subprocess
import time

import pytest
from hostlab import leftovers, make_client_key
from support import new_server

from swarmwiz.core import ssh
from swarmwiz.core.hostkeys import fingerprint, parse_fingerprints
from swarmwiz.lab.firewall import Firewall
from swarmwiz.lab.hosts import HostSpec, LabNet, check_prerequisites
from swarmwiz.lab.kernel import NETNS_DIR
from swarmwiz.lab.metadata import Instance, StaticSource, conf_text, nat_ruleset, route

needs_lab = pytest.mark.skipif(bool(check_prerequisites()), reason=f"lab needs: {check_prerequisites()}")
URL = "http://169.254.42.42"


# ----- the service's rules, no kernel needed ----------------------------------------------------------------


def _source() -> StaticSource:
    return StaticSource(
        {
            "10.9.0.10": Instance({"id": "srv-a", "public_ip": {"address": "10.9.0.10"}}, {"cloud-init": "a"}),
            "10.9.0.11": Instance({"id": "srv-b"}, {"secret": "b only"}),
        }
    )


def test_user_data_needs_a_privileged_source_port_and_conf_does_not():
    source = _source()
    ask = lambda method, path, port, body=b"": route(  # noqa: E731
        source, method, path, {}, body, address="10.9.0.10", port=port
    )
    assert ask("GET", "/conf", 40000)[0] == 200
    assert ask("PATCH", "/user_data/k", 1024, b"v")[0] == 403
    assert ask("GET", "/user_data/cloud-init", 40000)[0] == 403
    assert ask("GET", "/user_data", 5000)[0] == 403
    assert "k" not in source.instances["10.9.0.10"].user_data
    assert ask("PATCH", "/user_data/k", 1023, b"v")[0] == 204
    assert ask("PUT", "/user_data/k2", 1, b"w")[0] == 204
    assert source.instances["10.9.0.10"].user_data == {"cloud-init": "a", "k": "v", "k2": "w"}
    assert ask("GET", "/user_data/k", 600) == (200, "v")
    assert ask("GET", "/user_data", 600) == (200, "cloud-init\nk\nk2\n")
    assert route(source, "GET", "/user_data", {"format": "json"}, b"", address="10.9.0.10", port=600) == (
        200,
        {"user_data": ["cloud-init", "k", "k2"]},
    )
    assert ask("DELETE", "/user_data/k", 600)[0] == 204 and "k" not in source.instances["10.9.0.10"].user_data


def test_a_server_sees_only_its_own_data():
    source = _source()
    assert route(source, "GET", "/user_data/secret", {}, b"", address="10.9.0.10", port=700)[0] == 404
    assert route(source, "GET", "/user_data/secret", {}, b"", address="10.9.0.11", port=700) == (200, "b only")
    status, conf = route(source, "GET", "/conf", {"format": "json"}, b"", address="10.9.0.11", port=700)
    assert status == 200 and conf["id"] == "srv-b"
    for address in ("10.9.0.1", "127.0.0.1"):  # not a server: nothing at all
        assert route(source, "GET", "/conf", {}, b"", address=address, port=700)[0] == 403
        assert route(source, "PATCH", "/user_data/secret", {}, b"x", address=address, port=700)[0] == 403
    assert source.instances["10.9.0.11"].user_data == {"secret": "b only"}


def test_conf_in_shell_form_can_be_sourced():
    conf = {
        "id": "srv-a",
        "name": "demo-1",
        "commercial_type": "DEV1-S",
        "tags": ["swarmwiz", "it's"],
        "public_ip": {"address": "10.9.0.10", "dynamic": False},
        "private_ip": None,
        "location": {"zone_id": "fr-par-1"},
    }
    text = conf_text(conf)
    script = f'{text}\necho "$ID|$NAME|$COMMERCIAL_TYPE|$TAGS|$TAGS_1|$PUBLIC_IP_ADDRESS|$ZONE|$PRIVATE_IP|"'
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "srv-a|demo-1|DEV1-S|2|it's|10.9.0.10|fr-par-1||"
    assert "PUBLIC_IP_DYNAMIC=false" in text.splitlines()


def test_hosts_without_a_service_are_refused_locally():
    assert "reject" in nat_ruleset(None) and "dnat" not in nat_ruleset(None)
    assert "dnat to 10.9.0.1:4567" in nat_ruleset(("10.9.0.1", 4567))


# ----- real hosts -------------------------------------------------------------------------------------------


def _curl(netns: str, *args: str, ports: str) -> tuple[int, str]:
    """curl from inside a host's namespace, from a source port in `ports`: (HTTP status, body)."""
    argv = ["nsenter", f"--net={NETNS_DIR / netns}", "curl", "-sS", "--max-time", "5", "--local-port", ports]
    argv += ["-o", "-", "-w", "\n%{http_code}", *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"{shlex.join(argv)}: {result.stderr}"
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


@pytest.fixture
def net(tmp_path):
    """The lab's network alone (no API), for hosts made by the test; afterwards nothing of it is left."""
    net = LabNet(tmp_path / "lab")
    net.ensure()
    try:
        yield net
    finally:
        net.clean()
        net.stop_metadata()
    assert leftovers(net) == {"netns": [], "links": [], "mounts": [], "processes": []}


@pytest.mark.lab
@needs_lab
def test_hosts_reach_the_service_at_the_metadata_address(net):
    a_ip = str(net.public_subnet.network_address + 10)
    b_ip = str(net.public_subnet.network_address + 11)
    source = StaticSource(
        {
            a_ip: Instance({"id": "srv-a", "name": "meta-a", "public_ip": {"address": a_ip}}, {}),
            b_ip: Instance({"id": "srv-b", "name": "meta-b", "public_ip": {"address": b_ip}}, {}),
        }
    )
    net.serve_metadata(source)
    for host_id, name, address in (("srv-a", "meta-a", a_ip), ("srv-b", "meta-b", b_ip)):
        net.create_host(HostSpec(host_id, name, address, [], [], None, None, Firewall("drop"), time_scale=0))
    a, b = net.netns("srv-a"), net.netns("srv-b")

    status, text = _curl(a, f"{URL}/conf?format=json", ports="30000-40000")
    assert status == 200 and json.loads(text)["id"] == "srv-a"
    status, text = _curl(b, f"{URL}/conf", ports="30000-40000")
    assert status == 200 and "ID=srv-b" in text.splitlines() and f"PUBLIC_IP_ADDRESS={b_ip}" in text

    write = ["-X", "PATCH", "-H", "Content-Type: text/plain", "--data-binary", "from b"]
    status, text = _curl(b, *write, f"{URL}/user_data/note", ports="30000-40000")
    assert status == 403 and "below 1024" in text
    assert "note" not in source.instances[b_ip].user_data
    assert _curl(b, *write, f"{URL}/user_data/note", ports="1-1023")[0] == 204
    assert source.instances[b_ip].user_data["note"] == "from b"
    assert _curl(b, f"{URL}/user_data/note", ports="1-1023") == (200, "from b")
    # a cannot read b's user data, nor list it: it only ever sees its own server
    assert _curl(a, f"{URL}/user_data/note", ports="1-1023")[0] == 404
    status, text = _curl(a, f"{URL}/user_data?format=json", ports="1-1023")
    assert status == 200 and "note" not in json.loads(text)["user_data"]

    # each host published its own fingerprints as it booted, from a privileged port, through the service
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(
        "ssh-host-fingerprints" in i.user_data for i in source.instances.values()
    ):
        time.sleep(0.05)
    for host_id, address in (("srv-a", a_ip), ("srv-b", b_ip)):
        published = source.instances[address].user_data.get("ssh-host-fingerprints", "")
        host_public = (net.host_dir(host_id) / "ssh_host_ed25519_key.pub").read_text()
        assert parse_fingerprints(published) == {fingerprint(host_public)}, (host_id, published)
    assert not (net.host_dir("srv-a") / "cloud-init" / "ssh-host-fingerprints").exists()


@pytest.mark.lab
@needs_lab
def test_without_a_service_the_boot_goes_on_and_nothing_leaves_the_lab(net):
    address = str(net.public_subnet.network_address + 12)
    net.create_host(HostSpec("srv-c", "meta-c", address, [], [], None, None, Firewall(), time_scale=0), wait=True)
    result = subprocess.run(
        ["nsenter", f"--net={NETNS_DIR / net.netns('srv-c')}", "curl", "-sS", "--max-time", "3", f"{URL}/conf"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 7, result  # refused inside the host: the call never leaves it
    assert "publishing user data ssh-host-fingerprints failed" in (net.host_dir("srv-c") / "boot.log").read_text()


# ----- through the lab API ----------------------------------------------------------------------------------


@pytest.mark.lab
@pytest.mark.slow
async def test_the_instance_api_serves_the_fingerprints_the_node_wrote_and_they_pin_its_key(lab, tmp_path):
    from scaleway import Client
    from scaleway.instance.v1 import InstanceV1API
    from scaleway.instance.v1.custom_api import InstanceUtilsV1API

    lab.ensure_running()
    creds = lab.credentials()
    client = Client(
        access_key=creds["SCW_ACCESS_KEY"],
        secret_key=creds["SCW_SECRET_KEY"],
        default_project_id=creds["SCW_DEFAULT_PROJECT_ID"],
        default_zone="fr-par-1",
        default_region="fr-par",
        api_url=lab.api_url,
    )
    api, user_data = InstanceV1API(client), InstanceUtilsV1API(client)
    key, public = make_client_key(tmp_path)
    ip = api.create_ip(zone="fr-par-1", type_="routed_ipv4").ip
    server = new_server(api, "meta-1", public_ips=[ip.id])
    cloud_init = f"#cloud-config\nhostname: meta-1\nssh_authorized_keys:\n  - {public}\n"
    user_data.set_server_user_data(server_id=server.id, key="cloud-init", content=cloud_init.encode())
    assert "ssh-host-fingerprints" not in api.list_server_user_data(server_id=server.id).user_data
    api.server_action(server_id=server.id, action="poweron")

    deadline = time.monotonic() + 60
    published = ""
    while not published and time.monotonic() < deadline:
        if "ssh-host-fingerprints" in api.list_server_user_data(server_id=server.id).user_data:
            published = user_data.get_server_user_data(server_id=server.id, key="ssh-host-fingerprints").text
        else:
            time.sleep(0.1)
    print(f"\npublished through the metadata API: {published.strip()}")
    host_public = (lab.dir / "hosts" / server.id / "ssh_host_ed25519_key.pub").read_text()
    fingerprints = parse_fingerprints(published)
    assert fingerprints == {fingerprint(host_public)} and "root@meta-1" in published

    await ssh.wait_for_ssh(ip.address, host_key=host_public, client_keys=[key], timeout=60, interval=0.1)
    pinned = await ssh.pin_host_key(ip.address, fingerprints, client_keys=[key], node="meta-1")
    assert pinned == " ".join(host_public.split()[:2])
    # On the node, the metadata API describes this server (and only lets root write its user data).
    async with await ssh.connect(ip.address, host_key=host_public, client_keys=[key]) as conn:
        conf = json.loads(await ssh.run(conn, ["curl", "-sS", f"{URL}/conf?format=json"]))
        assert (conf["id"], conf["name"], conf["public_ip"]["address"]) == (server.id, "meta-1", ip.address)
        assert conf["commercial_type"] == "DEV1-S" and conf["location"]["zone_id"] == "fr-par-1"
        listed = await ssh.run(conn, ["curl", "-sS", "--local-port", "600-700", f"{URL}/user_data"])
        assert listed.split() == ["cloud-init", "ssh-host-fingerprints"]


def test_the_lab_cloud_answers_each_running_server_about_itself_only(api_lab):
    """The lab API's source: a caller is the server its public IP is attached to, and only while its host runs."""
    from scaleway.instance.v1 import InstanceV1API

    from swarmwiz.lab.api.cloud import LabCloud
    from swarmwiz.lab.api.scaleway.metadata import ScalewaySource

    api = InstanceV1API(api_lab.scaleway())
    servers, ips = [], []
    for name in ("meta-a", "meta-b"):
        ip = api.create_ip(zone="fr-par-1", type_="routed_ipv4").ip
        created = new_server(api, name, public_ips=[ip.id], tags=["swarmwiz"])
        servers.append(created)
        ips.append(ip.address)
    loose = api.create_ip(zone="fr-par-1", type_="routed_ipv4").ip.address  # attached to nothing
    cloud = LabCloud(api_lab.lab_dir)  # the state the API saved; hosts marked running below
    for server in servers:
        cloud.state["servers"][server.id]["host"] = True
    source = ScalewaySource(cloud)

    def ask(address: str, method: str, path: str, body: bytes = b"", port: int = 700) -> tuple[int, object]:
        return route(source, method, path, {"format": "json"}, body, address=address, port=port)

    for server, address in zip(servers, ips, strict=True):
        status, conf = ask(address, "GET", "/conf")
        assert status == 200 and (conf["id"], conf["name"], conf["public_ip"]["address"]) == (
            server.id,
            server.name,
            address,
        )
        assert conf["commercial_type"] == "DEV1-S" and conf["tags"] == ["swarmwiz"]
    assert ask(ips[0], "PATCH", "/user_data/note", b"a's", port=40000)[0] == 403
    assert ask(ips[0], "PATCH", "/user_data/note", b"a's")[0] == 204
    assert cloud.state["servers"][servers[0].id]["user_data"] == {"note": "a's"}
    assert "note" not in cloud.state["servers"][servers[1].id]["user_data"]
    assert ask(ips[1], "GET", "/user_data/note")[0] == 404
    assert ask(ips[1], "GET", "/user_data") == (200, {"user_data": []})
    assert ask(loose, "GET", "/conf")[0] == 403
    cloud.state["servers"][servers[1].id]["host"] = False  # powered off: its address answers nothing
    assert ask(ips[1], "GET", "/conf")[0] == 403
