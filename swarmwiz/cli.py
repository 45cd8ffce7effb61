"""Command line: the same pipeline as the wizard, without a UI; one function per subcommand returning an exit code."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from swarmwiz import __version__
from swarmwiz.core.errors import InputError, SwarmwizError

log = logging.getLogger("swarmwiz")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

EPILOG = """\
exit codes: 0 ok, 1 the operation failed, 2 bad input or usage, 130 interrupted.
files: everything swarmwiz writes goes under $SWARMWIZ_HOME (default: the platform's user data directory).
credentials: the OS keyring (service "swarmwiz"); SCW_ACCESS_KEY, SCW_SECRET_KEY, SCW_DEFAULT_PROJECT_ID and
CLOUDFLARE_API_TOKEN in the environment take precedence (for CI).
"""


class _Parser(argparse.ArgumentParser):
    """argparse that prints one line and exits 2 on a usage error (instead of the full usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"swarmwiz: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="swarmwiz",
        description="Stand up a Docker Swarm mode cluster on Scaleway with Cloudflare DNS, and tear it down again. "
        "Without a command, the wizard starts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"swarmwiz {__version__}")
    parser.add_argument("--lab", action="store_true", help="use the local lab instead of Scaleway and Cloudflare")
    parser.add_argument("--plain", action="store_true", help="ask the wizard's questions line by line (no full screen)")
    parser.add_argument("--debug", action="store_true", help="show debug logs and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        p.add_argument("--lab", action="store_true", default=argparse.SUPPRESS, help="use the local lab")
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return p

    p = add("deploy", cmd_deploy, "create or converge a cluster from a cluster.toml")
    p.add_argument("-c", "--config", required=True, metavar="FILE", help="the cluster.toml to deploy")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask before applying the plan")
    p.add_argument(
        "--ssh-config",
        action="store_true",
        help="include the cluster's SSH config (node aliases, pinned host keys) from ~/.ssh/config without asking",
    )

    p = add("plan", cmd_plan, "preview: resources to add, change and destroy, and the monthly cost")
    p.add_argument("-c", "--config", required=True, metavar="FILE", help="the cluster.toml to plan")
    p.add_argument("--offline", action="store_true", help="only validate, render the workspace and estimate cost")

    p = add("status", cmd_status, "node table of a cluster; exit 0 only if every node is Ready")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add("destroy", cmd_destroy, "tear a cluster down and check that nothing remains")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask to type the name")
    p.add_argument("--forget", action="store_true", help="also delete the cluster's local workspace afterwards")

    p = add("list", cmd_list, "clusters known here")
    p.add_argument("--json", action="store_true", help="print JSON")

    _add_credentials(sub, add)
    from swarmwiz.commands import doctor

    doctor.add_parser(sub, add)

    p = add("lab", cmd_lab, "the local lab: a local Scaleway + Cloudflare with real sshd and dockerd hosts")
    p.add_argument("action", choices=["status", "clean", "env"], help="status, clean, or env (shell exports)")
    p.add_argument("--json", action="store_true", help="status as JSON")
    return parser


def _add_credentials(sub, add) -> None:
    try:
        from swarmwiz.commands import credentials
    except ImportError:  # the credentials command is built in its own module
        p = add("credentials", lambda a: _unavailable("credentials"), "keyring entries: set, check, delete")
        p.add_argument("action", choices=["set", "check", "delete"])
        return
    credentials.add_parser(sub, add)


def _unavailable(what: str) -> int:
    print(f"swarmwiz: {what} is not available in this build", file=sys.stderr)
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False) or bool(os.environ.get("SWARMWIZ_DEBUG"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    func = getattr(args, "func", None)
    try:
        if func is None:
            return run_wizard(args)
        return func(args)
    except SwarmwizError as exc:
        if debug:
            log.exception("failed")
        for line in getattr(exc, "problems", None) or [exc.message]:
            print(f"swarmwiz: error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("swarmwiz: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run_wizard(args: argparse.Namespace) -> int:
    if args.plain:
        from swarmwiz.plain import run_plain

        return run_plain(lab=args.lab)
    from swarmwiz.tui.app import run_app

    return run_app(lab=args.lab)


# -- subcommands -------------------------------------------------------------------------------------------------
def cmd_plan(args: argparse.Namespace) -> int:
    from swarmwiz.core.pipeline import Pipeline
    from swarmwiz.core.spec import load_spec

    spec = load_spec(args.config)
    pipeline = Pipeline.for_spec(spec, lab=args.lab)
    out = _out()
    if args.offline:
        with pipeline.workspace.lock("plan"):
            pipeline.workspace.render(spec, lab=args.lab)
    else:
        out.run(pipeline.plan())
    out.line(f"workspace: {pipeline.workspace.path}")
    out.cost(pipeline.cost())
    return EXIT_OK


def cmd_deploy(args: argparse.Namespace) -> int:
    from swarmwiz.core.pipeline import Pipeline
    from swarmwiz.core.spec import load_spec

    spec = load_spec(args.config)
    out = _out()
    pipeline = Pipeline.for_spec(spec, lab=args.lab)

    def confirm(summary, cost) -> bool:
        out.cost(cost)
        if summary.empty:
            return True
        if not sys.stdin.isatty():
            raise InputError("deploy: confirmation needed but stdin is not a terminal; pass --yes to apply the plan")
        return out.ask("Apply this plan? [y/N] ").strip().lower() in ("y", "yes")

    if args.yes:
        out.cost(pipeline.cost())
    with _safe_interrupts(pipeline, out), _recording(pipeline, "deploy") as run:
        result = out.run(run.events(pipeline.deploy(confirm=confirm, auto_approve=args.yes)))
        run.note(result.health_line() if result is not None else "nothing applied")
    if result is None:
        out.line("Nothing applied.")
        return EXIT_OK
    out.status(result)
    out.access(pipeline.access_hints(result))
    _set_up_access(args, pipeline, result, out)
    if not result.all_ready:
        out.line(f"run log: {run.path}")
    return EXIT_OK if result.all_ready else EXIT_FAILED


def cmd_status(args: argparse.Namespace) -> int:
    from swarmwiz.core.pipeline import Pipeline

    pipeline = Pipeline.for_name(args.name, lab=args.lab)
    with _recording(pipeline, "status") as run:
        result = pipeline.read_status()
        run.note(result.health_line())
    out = _out()
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        out.status(result)
    if not result.all_ready:
        print(f"run log: {run.path}", file=sys.stderr)
    return EXIT_OK if result.all_ready else EXIT_FAILED


def cmd_destroy(args: argparse.Namespace) -> int:
    from swarmwiz.core.pipeline import Pipeline

    pipeline = Pipeline.for_name(args.name, lab=args.lab)
    out = _out()

    def confirm(inventory) -> bool:
        out.inventory(inventory)
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise InputError("destroy: confirmation needed but stdin is not a terminal; pass --yes to destroy")
        typed = out.ask(f"Type the cluster name ({args.name}) to destroy it: ")
        return typed.strip() == args.name

    with _safe_interrupts(pipeline, out), _recording(pipeline, "destroy") as run:
        report = out.run(run.events(pipeline.destroy(confirm=confirm)))
        run.note("nothing destroyed" if report is None else f"leftovers: {report.leftovers or 'none'}")
    if report is None:
        out.line("Nothing destroyed.")
        return EXIT_OK
    out.leftovers(report)
    if report.clean:
        from swarmwiz.flows import ssh_config

        for line in ssh_config.tear_down(pipeline.workspace):
            out.line(line)
    else:
        out.line(f"run log: {run.path}")
    if args.forget and report.clean:
        pipeline.workspace.remove()
        out.line(f"Forgot the workspace {pipeline.workspace.path}.")
    return EXIT_OK if report.clean else EXIT_FAILED


def cmd_list(args: argparse.Namespace) -> int:
    from swarmwiz.core.workspace import list_workspaces

    rows = []
    for ws in list_workspaces():
        meta = ws.meta()
        rows.append(
            {
                "name": ws.name,
                "state": meta.get("state", "unknown"),
                "lab": bool(meta.get("lab")),
                "nodes": meta.get("nodes"),
                "path": str(ws.path),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("No clusters known here. Start with `swarmwiz` or `swarmwiz deploy -c cluster.toml`.")
        return EXIT_OK
    _out().table(
        ["NAME", "STATE", "WHERE", "NODES", "WORKSPACE"],
        [[r["name"], r["state"], "lab" if r["lab"] else "scaleway", str(r["nodes"] or "-"), r["path"]] for r in rows],
    )
    return EXIT_OK


def cmd_lab(args: argparse.Namespace) -> int:
    from swarmwiz.lab import Lab, env_exports

    lab = Lab()
    if args.action == "clean":
        lab.clean()
        print("The lab is clean: no servers, namespaces, bridges, processes or state left.")
        return EXIT_OK
    lab.check_prerequisites()
    if args.action == "env":
        lab.ensure_running()
        print(env_exports(lab))
        return EXIT_OK
    status = lab.status()
    if args.json:
        print(json.dumps(status, indent=2))
        return EXIT_OK
    _out().lab_status(status)
    return EXIT_OK


@contextlib.contextmanager
def _safe_interrupts(pipeline, out):
    """First Ctrl-C: stop safely (Terraform finishes in-flight work and saves state); a second one asks to force."""
    presses = 0

    def handler(signum, frame) -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            out.line(
                "\nStopping safely: Terraform finishes what is in flight and saves its state (Ctrl-C again to force)."
            )
            pipeline.cancel()
            return
        if not sys.stdin.isatty():
            out.line("Still stopping safely; not forcing without a terminal to ask on.")
            return
        answer = out.ask("Force stop now? Resources being created may be left untracked in the cloud. [y/N] ")
        if answer.strip().lower() in ("y", "yes"):
            pipeline.force()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _set_up_access(args, pipeline, result, out) -> None:
    """SSH aliases for every node (included from ~/.ssh/config with consent) and the Docker context."""
    from swarmwiz.core.pipeline import ensure_docker_context
    from swarmwiz.flows import ssh_config

    name = pipeline.spec.name
    hosts = {f"{name}-{n.key}" if n.key else n.hostname: n.public_ip for n in result.nodes if n.public_ip}
    if not hosts:
        return
    consent = args.ssh_config
    user_config = ssh_config.user_config_path()
    if not consent and not args.yes and sys.stdin.isatty():
        if ssh_config.is_included(name, pipeline.workspace.path / ssh_config.CONFIG_NAME, user_config):
            consent = True
        else:
            answer = out.ask(f"Add one Include line to {user_config} so that `ssh {name}-manager-1` works? [y/N] ")
            consent = answer.strip().lower() in ("y", "yes")
    managers_ready = any(n.role == "manager" and n.status == "Ready" for n in result.nodes)
    for line in ssh_config.set_up(
        pipeline.workspace,
        hosts,
        pipeline.spec.ssh_private_key_path,
        include_config=consent,
        user_config=user_config,
        docker_context=ensure_docker_context if managers_ready else None,
    ):
        out.line(line)


def _recording(pipeline, operation: str):
    """The run log of one deploy, destroy or status run (core/runlog.py), masking the run's credentials."""
    from swarmwiz.core.runlog import recording

    return recording(pipeline.workspace, operation, pipeline.secrets)


def _out():
    from swarmwiz.output import Output

    return Output()


if __name__ == "__main__":
    sys.exit(main())
