"""Teardown always works: status and destroy load the stored spec without today's catalogue or the local key file,
and forgetting a workspace happens under its lock."""

from __future__ import annotations

import threading

import pytest

from swarmwiz.cli import main
from swarmwiz.core.errors import LockedError
from swarmwiz.core.pipeline import Pipeline
from swarmwiz.core.target import CloudTarget
from swarmwiz.core.workspace import Workspace


@pytest.fixture
def rendered(cluster_toml, ssh_keypair) -> Workspace:
    assert main(["plan", "-c", str(cluster_toml), "--offline"]) == 0
    return Workspace.existing("demo")


def test_moved_public_key_does_not_block_status_or_destroy(rendered, ssh_keypair, capsys):
    public = ssh_keypair[1]
    key_text = public.read_text().split()
    public.rename(public.with_name("moved-away.pub"))
    with pytest.raises(Exception, match="ssh.public_key"):
        rendered.load_spec()  # a new deploy still checks the key file
    spec = Pipeline.for_name("demo", CloudTarget(env={})).spec
    assert spec.ssh_public_key.split()[:2] == key_text[:2]  # from the workspace's tfvars, not the moved file
    capsys.readouterr()
    assert main(["status", "demo"]) == 2  # not deployed yet: the reason is the state, not the key file
    err = capsys.readouterr().err
    assert "has not been deployed" in err and "ssh.public_key" not in err


def test_retired_type_and_zone_do_not_block_status_or_destroy(rendered):
    text = rendered.spec_path.read_text()
    rendered.spec_path.write_text(text.replace('"DEV1-M"', '"START1-S"').replace('"fr-par-2"', '"fr-par-9"'))
    with pytest.raises(Exception, match="workers.type"):
        rendered.load_spec()
    spec = Pipeline.for_name("demo", CloudTarget(env={})).spec
    assert spec.workers.type == "START1-S" and spec.zones == ("fr-par-1", "fr-par-9") and spec.region == "fr-par"


def test_a_damaged_stored_spec_is_still_one_sentence(rendered, capsys):
    rendered.spec_path.write_text("name = [")
    assert main(["status", "demo"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "not valid TOML" in lines[0]


def test_forget_refuses_while_another_run_holds_the_lock(rendered):
    held, release = threading.Event(), threading.Event()

    def other_run() -> None:
        with rendered.lock("deploy"):
            held.set()
            release.wait(10)

    worker = threading.Thread(target=other_run)
    worker.start()
    try:
        assert held.wait(10)
        with pytest.raises(LockedError, match="running deploy"):
            rendered.remove()
        assert rendered.exists()
    finally:
        release.set()
        worker.join()
    with rendered.lock("destroy", reentrant=True):  # held from a destroy through the forget
        rendered.remove()
    assert not rendered.path.exists()
