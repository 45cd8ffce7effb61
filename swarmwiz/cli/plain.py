"""`swarmwiz --plain`: the wizard's questions asked line by line with questionary, then the same pipeline with
line output (for terminals where a full-screen UI is not wanted)."""

from __future__ import annotations

import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from swarmwiz.core.errors import SwarmwizError
from swarmwiz.flows.errors import ERROR_PREFIX, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, describe

if TYPE_CHECKING:
    from swarmwiz.core.target import Target


def run_plain(target: Target) -> int:
    """Ask for a new cluster (or pick a known one to see or tear down) and run the pipeline; returns an exit code."""
    import questionary

    from swarmwiz.cli.output import Output
    from swarmwiz.flows.services import Services

    services = Services(target)
    out = Output()
    try:
        if target.is_lab:
            out.line("Lab mode: the local lab stands in for Scaleway and Cloudflare; nothing is billed.")
            services.prepare()
        clusters = services.clusters()
        choices = (
            ["Create a new cluster"]
            + [f"Status of {c.name}" for c in clusters]
            + [f"Tear down {c.name}" for c in clusters]
            + ["Quit"]
        )
        choice = _ask(questionary.select("What do you want to do?", choices=choices))
        if choice == "Quit":
            return EXIT_OK
        if choice.startswith("Status of "):
            return _status(services, out, choice.removeprefix("Status of "))
        if choice.startswith("Tear down "):
            return _teardown(services, out, choice.removeprefix("Tear down "))
        return _new_cluster(services, out)
    except KeyboardInterrupt:
        print("swarmwiz: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SwarmwizError as exc:
        said = describe(exc)
        for line in said.lines:
            print(f"{ERROR_PREFIX}{line}", file=sys.stderr)
        return said.exit_code


def _ask(question) -> Any:
    """questionary returns None when the user presses Ctrl-C: turn that into KeyboardInterrupt."""
    answer = question.ask()
    if answer is None:
        raise KeyboardInterrupt
    return answer


def _credentials(services, out):
    import questionary

    from swarmwiz.core.credentials import FIELDS, Credentials

    creds, sources = services.load_credentials()
    if all(s == "lab" for s in sources.values()):
        out.line("Credentials: provided by the lab.")
        return creds
    values = {f.attr: creds.value(f.attr) for f in FIELDS}
    for f in FIELDS:
        where = sources.get(f.attr, "missing")
        if where != "missing":
            out.line(f"{f.label}: from the {'environment' if where == 'env' else 'OS keyring'}")
            continue
        prompt = questionary.password if f.secret else questionary.text
        values[f.attr] = _ask(prompt(f"{f.label}:", validate=lambda v: bool(v.strip()) or "required")).strip()
    creds = Credentials(**values)
    out.line("Checking the credentials with Scaleway and Cloudflare...")
    checks = services.check_credentials(creds)
    for check in checks:
        out.line(f"  {'ok ' if check.ok else 'BAD'} {check.message}")
    if any(not c.ok for c in checks) and not _ask(
        questionary.confirm("Some credentials failed; continue anyway?", default=False)
    ):
        raise KeyboardInterrupt
    typed = {f.attr: values[f.attr] for f in FIELDS if sources.get(f.attr) == "missing"}
    if any(typed.values()):
        services.save_credentials(Credentials(**typed))
        out.line("Saved to the OS keyring.")
    return creds


def _new_cluster(services, out) -> int:
    """Ask every step of the wizard, then plan, confirm and deploy; returns an exit code."""
    from swarmwiz.flows.draft import Draft, to_spec

    own_cidr = _look_up_public_address(services)  # answered while the user types the first answers
    creds = _credentials(services, out)
    catalog = services.catalog(creds)
    out.line(f"Catalogue: {catalog.source}")
    place = _ask_place_and_nodes(catalog)
    answers = place | _ask_domain_and_access(services, out, creds, own_cidr, name=place["name"])
    spec = to_spec(Draft(**answers), catalog)  # SpecError lists every problem; run_plain prints them
    out.line("")
    out.line(
        f"Cluster {spec.name}: {spec.managers.count} x {spec.managers.type} managers, {spec.workers.count} x "
        f"{spec.workers.type} workers in {', '.join(spec.zones)}; *.{spec.dns_name} -> the managers"
        + (f"; Terraform state shared in bucket {spec.state_bucket}" if spec.state_bucket else "")
    )
    out.cost(services.estimate(spec, catalog))
    return _plan_and_deploy(services.pipeline_for_spec(spec, creds), out)


def _ask_place_and_nodes(catalog) -> dict[str, Any]:
    """Name, region, zones, instance types and counts, as Draft fields."""
    import questionary

    from swarmwiz.flows.draft import Draft, problems, quorum_text

    name = _ask(
        questionary.text(
            "Cluster name:",
            validate=lambda v: _first(problems(Draft(name=v.strip()), "place", catalog), "name") or True,
        )
    ).strip()
    region = _ask(
        questionary.select(
            "Region:",
            choices=[questionary.Choice(f"{r}  {info.get('name', '')}", r) for r, info in catalog.regions.items()],
        )
    )
    zones = _ask(
        questionary.checkbox(
            "Zones (managers are spread over them):",
            choices=[questionary.Choice(z, z, checked=i == 0) for i, z in enumerate(catalog.zones_of(region))],
            validate=lambda v: bool(v) or "choose at least one zone",
        )
    )
    state_bucket = _ask_state_bucket()
    manager_type = _ask(questionary.select("Instance type for managers:", choices=type_choices(catalog, zones)))
    worker_type = _ask(
        questionary.select("Instance type for workers:", choices=type_choices(catalog, zones), default=manager_type)
    )
    managers = _ask(
        questionary.select(
            "Managers:",
            choices=[questionary.Choice(f"{n}: {quorum_text(n)}", str(n)) for n in (1, 3, 5, 7)],
            default="3",
        )
    )
    workers = _ask(
        questionary.text(
            "Workers (0-100):",
            default="2",
            validate=lambda v: (v.strip().isdigit() and 0 <= int(v) <= 100) or "a whole number from 0 to 100",
        )
    )
    return {
        "name": name,
        "region": region,
        "zones": tuple(zones),
        "manager_type": manager_type,
        "worker_type": worker_type,
        "managers": int(managers),
        "workers": int(workers),
        "state_bucket": state_bucket,
    }


def _ask_state_bucket() -> str:
    """The optional [state] bucket that shares the Terraform state ("" keeps it local), judged by the spec's rule."""
    import questionary

    question = questionary.text(
        "Bucket to share the Terraform state with a team or CI (Scaleway Object Storage; created for the plan if "
        "missing; empty keeps the state on this computer):",
        validate=lambda v: bucket_problem(v) or True,
    )
    return _ask(question).strip()


def bucket_problem(value: str) -> str | None:
    """The spec's sentence about `value` as [state] bucket, or None when it is allowed (or empty: a local state)."""
    from swarmwiz.flows.draft import Draft, problems

    return _first(problems(Draft(state_bucket=value.strip()), "place"), "state.bucket")


def _look_up_public_address(services) -> Future:
    """This machine's public address (`services.public_cidr`), asked in a background thread; never raises."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="public-address")
    try:
        return pool.submit(services.public_cidr)
    finally:
        pool.shutdown(wait=False)  # the thread ends by itself: each attempt has a timeout of a few seconds


def _result(own_cidr: Future | None) -> str | None:
    """The lookup's answer, waiting for it at most a few seconds more (name resolution has no timeout of its own)."""
    from swarmwiz.flows.myaddress import TIMEOUT_S

    if own_cidr is None:
        return None
    try:
        return own_cidr.result(timeout=2 * TIMEOUT_S)
    except Exception:  # still waiting (a hung DNS), or failed: no suggestion
        return None


def _ask_domain_and_access(services, out, creds, own_cidr: Future | None = None, name: str = "") -> dict[str, Any]:
    """The Cloudflare zone, the subdomain, the apex choice, the SSH key (or a new one) and the allowed CIDRs, as
    Draft fields.

    The subdomain defaults to the cluster's `name` when the zone's wildcard is already taken; the CIDRs default to
    this machine's public address (`own_cidr`, when found), else to the whole internet."""
    import questionary

    from swarmwiz.flows.draft import ANYWHERE
    from swarmwiz.flows.myaddress import OWN_ADDRESS, whole_internet_warning

    try:
        zones_dns = services.dns_zones(creds)
    except SwarmwizError as exc:
        out.line(f"Could not list the Cloudflare zones: {exc}")
        zones_dns = []
    if zones_dns:
        domain = _ask(questionary.select("Domain (a zone in your Cloudflare account):", choices=zones_dns))
    else:
        domain = _ask(questionary.text("Domain (a zone in your Cloudflare account):")).strip().lower()
    suggested = _subdomain_suggestion(services, out, creds, domain, name) if domain in zones_dns else ""
    subdomain = _ask_subdomain(domain, suggested)
    dns_name = f"{subdomain}.{domain}" if subdomain else domain
    apex = _ask(questionary.confirm(f"Also point {dns_name} itself at the managers?", default=False))
    keys = [str(k) for k in services.ssh_public_keys()]
    key = _ask(questionary.select("SSH public key for the nodes:", choices=keys + ["Generate a new ed25519 key"]))
    if key.startswith("Generate"):
        key = str(services.generate_ssh_key())
        out.line(f"New key pair: {key}")
    own = _result(own_cidr)
    if own:
        out.line(OWN_ADDRESS.format(cidr=own))
    cidrs_text = _ask(
        questionary.text("SSH allowed from (CIDRs, comma separated):", default=own or ", ".join(ANYWHERE))
    )
    cidrs = tuple(c.strip() for c in cidrs_text.split(",") if c.strip())
    warning = whole_internet_warning(cidrs, own)
    if warning:
        out.line(f"Warning: {warning}")
    return {"domain": domain, "subdomain": subdomain, "apex": apex, "public_key": key, "allowed_cidrs": cidrs}


def _ask_subdomain(domain: str, default: str = "") -> str:
    """The optional subdomain (records at *.SUBDOMAIN.DOMAIN), judged by the spec's own rule for dns.subdomain."""
    import questionary

    question = questionary.text(
        f"Subdomain (empty for *.{domain}):", default=default, validate=lambda v: subdomain_problem(domain, v) or True
    )
    return _ask(question).strip()


def _subdomain_suggestion(services, out, creds, domain: str, name: str) -> str:
    """The cluster's name when *.DOMAIN is already someone's (pre-flight would refuse to share it), said why;
    else "". Only a suggestion: a zone that cannot be read suggests nothing."""
    from swarmwiz.flows.draft import wildcard_holder

    try:
        holder = wildcard_holder(services.dns_records(creds, domain), domain)
    except SwarmwizError:
        return ""
    if not holder:
        return ""
    name = name.rstrip("-")
    out.line(
        f"*.{domain} is already taken by {holder}, so this cluster needs a subdomain of its own"
        + (f"; its name is offered, for *.{name}.{domain}." if name else ".")
    )
    return name


def subdomain_problem(domain: str, value: str) -> str | None:
    """The spec's sentence about `value` as dns.subdomain below `domain`, or None when it is allowed."""
    from swarmwiz.flows.draft import Draft, problems

    return _first(problems(Draft(domain=domain, subdomain=value.strip()), "domain"), "dns.subdomain")


def _plan_and_deploy(pipeline, out) -> int:
    """Plan, ask, then deploy; a plan that changed since the review is shown and asked again."""
    import questionary

    summary = out.run(pipeline.plan())
    out.plan(summary)
    if not _ask(questionary.confirm("Deploy this?", default=False)):
        out.line("Nothing created. The workspace with cluster.toml is kept; `swarmwiz deploy -c` it later.")
        return EXIT_OK
    reviewed = (summary.add, summary.change, summary.destroy)

    def confirm(plan, cost) -> bool:
        if (plan.add, plan.change, plan.destroy) == reviewed:
            return True
        with out.paused():
            out.plan(plan)
            return bool(questionary.confirm("The plan changed since you reviewed it. Apply it?", default=False).ask())

    from swarmwiz.flows.access import access_hints, recording, set_up_access

    approvals = deletion_questions(pipeline.spec.name, out)
    with recording(pipeline, "deploy") as run:
        status = out.run(run.events(pipeline.deploy(confirm, confirm_move=move_question(out), **approvals)))
        run.note(status.health_line() if status is not None else "nothing applied")
    if status is None:
        out.line("Nothing applied.")
        return EXIT_OK
    out.status(status)

    def ask(question: str) -> bool:
        return bool(questionary.confirm(question.removesuffix(" [y/N] "), default=False).ask())

    # As the CLI's deploy: ask for the Include line, then write the aliases and the Docker context.
    for line in set_up_access(pipeline, status, consent=False, ask=ask):
        out.line(line)
    out.access(access_hints(pipeline, status))
    return EXIT_OK if status.all_ready else EXIT_FAILED


def move_question(out):
    """The deploy's `confirm_move`: a cluster deployed with a local state gained [state] bucket (default No)."""
    import questionary

    def ask(question: str) -> bool:
        with out.paused():
            return bool(questionary.confirm(f"{question[0].upper()}{question[1:]}?", default=False).ask())

    return ask


def deletion_questions(name: str, out) -> dict[str, Any]:
    """The deploy's `confirm_delete` and `confirm_replace_dns`: list what would be deleted, then ask (default No)."""
    import questionary

    from swarmwiz.cli.commands.deploy import deletion_questions as listed

    def ask_to_delete(intro: str, lines: list[str]) -> bool:
        with out.paused():
            out.line(intro)
            for line in lines:
                out.line(f"  {line}")
            answer = questionary.confirm("Delete them and continue?", default=False).ask()
            out.line("Deleting them." if answer else "Not deleted: the deploy stops here.")
        return bool(answer)  # None (Ctrl-C) is No: nothing is deleted

    return listed(name, ask_to_delete)


def type_choices(catalog, zones: list[str]) -> list:
    """Instance types offered in every chosen zone, cheapest first, labelled with vCPU, RAM and price."""
    import questionary

    rows = []
    for name in catalog.swarm_candidates or catalog.types:
        itype = catalog.types.get(name)
        if itype is None or itype.end_of_service or not all(itype.offered_in(z) for z in zones):
            continue
        price = itype.monthly_price(zones[0]) or 0.0
        avail = "/".join(itype.availability(z) for z in zones)
        rows.append(
            (
                price,
                questionary.Choice(
                    f"{name:<16} {itype.ncpus:>3} vCPU {itype.ram_gib:>6g} GiB {price:>8.2f} EUR/month  {avail}", name
                ),
            )
        )
    return [choice for _price, choice in sorted(rows, key=lambda r: r[0])]


def _first(found: list[str], prefix: str) -> str | None:
    return next((p for p in found if p.startswith(prefix)), None)


def _status(services, out, name: str) -> int:
    from swarmwiz.flows.access import access_hints, recording

    pipeline = services.pipeline_for_name(name)
    with recording(pipeline, "status") as run:
        status = pipeline.read_status()
        run.note(status.health_line())
    out.status(status)
    out.access(access_hints(pipeline, status))
    return EXIT_OK if status.all_ready else EXIT_FAILED


def _teardown(services, out, name: str) -> int:
    import questionary

    pipeline = services.pipeline_for_name(name)

    def confirm(inventory) -> bool:
        out.inventory(inventory)
        typed = questionary.text(f"Type the cluster name ({name}) to destroy all of this:").ask()
        return (typed or "").strip() == name

    from swarmwiz.flows import ssh_config
    from swarmwiz.flows.access import recording

    with recording(pipeline, "destroy") as run:
        report = out.run(run.events(pipeline.destroy(confirm)))
        if report is not None and report.clean:
            for line in ssh_config.tear_down(pipeline.workspace):  # the SSH alias and the Docker context go too
                out.line(line)
    if report is None:
        out.line("Nothing destroyed.")
        return EXIT_OK
    out.leftovers(report)
    if report.clean and _ask(questionary.confirm("Forget the local workspace too?", default=False)):
        services.forget_workspace(name)
    return EXIT_OK if report.clean else EXIT_FAILED
