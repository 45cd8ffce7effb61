"""run_checks tells a frontend about each check twice: announced (None) before any runs, then its findings when it
ends; the findings told are exactly the report's, and the report keeps doctor's order whatever ends first."""

from __future__ import annotations

from collections import Counter

from swarmwiz.flows import doctor


def test_every_check_is_announced_then_told_once_with_the_reports_findings(tmp_path):
    calls: list[tuple[str, str, list | None]] = []
    empty_ssh = tmp_path / "ssh"
    empty_ssh.mkdir()
    report = doctor.run_checks(
        environ={"PATH": str(tmp_path / "nothing-here")},
        ssh_dir=empty_ssh,
        network=False,
        progress=lambda key, label, found: calls.append((key, label, found)),
    )
    announced = [key for key, _label, found in calls if found is None]
    told = [key for key, _label, found in calls if found is not None]
    assert announced == ["engine", "keyring", "ssh_key", "docker", "ssh_client"]
    assert Counter(told) == Counter(announced)  # each once
    first_told = next(i for i, (_k, _l, found) in enumerate(calls) if found is not None)
    assert first_told == len(announced)  # every announcement comes before the first result
    told_findings = [f for _k, _l, found in calls if found for f in found]
    assert Counter(f.key for f in told_findings) == Counter(f.key for f in report.findings)
    assert [f.key for f in report.findings] == ["engine", "keyring", "ssh_key", "docker", "ssh_client"]
    by_key = {f.key: f for f in report.findings}
    assert by_key["ssh_key"].status == doctor.FAIL and str(empty_ssh) in by_key["ssh_key"].detail
    assert by_key["docker"].status == doctor.WARN  # PATH has no docker


def test_lab_checks_are_told_too(tmp_path):
    calls: list[tuple[str, list | None]] = []
    report = doctor.run_checks(
        lab=True, network=False, ssh_dir=tmp_path, progress=lambda key, label, found: calls.append((key, found))
    )
    assert calls[0][0] == "lab" and calls[0][1] == [report.findings[0]]
    keyring = next(found for key, found in calls if key == "keyring" and found)
    assert keyring[0].status == doctor.SKIP
