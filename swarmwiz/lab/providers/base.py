"""Shared machinery of the lab's stub providers: schemas from the real providers, planning, the gRPC server."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import random
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent import futures
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgpack
from tf.gen import tfplugin_pb2 as pb
from tf.provider import ProviderServicer
from tf.types import Unknown
from tf.utils import Diagnostics, read_dynamic_value, to_dynamic_value

log = logging.getLogger(__name__)
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
PLAIN = pb.StringKind.PLAIN
_BLOCK_MODES = {
    "list": pb.Schema.NestedBlock.LIST,
    "set": pb.Schema.NestedBlock.SET,
    "single": pb.Schema.NestedBlock.SINGLE,
}


class ProviderError(Exception):
    """A failure shown to the Terraform user as one diagnostic (never carries a credential)."""

    def __init__(self, summary: str, detail: str = "") -> None:
        super().__init__(summary)
        self.summary = summary
        self.detail = detail


class NotFound(ProviderError):
    """The remote object is gone (404): refresh drops it, delete treats it as done."""


# ---------------------------------------------------------------- schema
def load_schema(provider: str) -> dict:
    """The schema file extracted from the real provider (see extract_schemas.py)."""
    return json.loads((SCHEMA_DIR / f"{provider}.json").read_text())


def _cty(type_: str) -> bytes:
    """The JSON-encoded cty type of a primitive or collection type string such as `list(string)`."""
    if "(" in type_:
        kind, inner = type_.rstrip(")").split("(", 1)
        return f'["{kind}",{_cty(inner).decode()}]'.encode()
    return json.dumps(type_).encode()


def _attribute_pb(name: str, spec: dict) -> pb.Schema.Attribute:
    flags = {k: True for k in ("required", "optional", "computed", "sensitive", "deprecated") if spec.get(k)}
    common = dict(name=name, description=spec.get("description", ""), description_kind=PLAIN, **flags)
    if "attributes" in spec:  # a framework nested attribute (`x = { ... }`), as the real v5 provider declares
        nested = pb.Schema.Object(
            attributes=[_attribute_pb(n, s) for n, s in spec["attributes"].items()], nesting=pb.Schema.Object.SINGLE
        )
        return pb.Schema.Attribute(nested_type=nested, **common)
    return pb.Schema.Attribute(type=_cty(spec["type"]), **common)


def block_pb(attrs: dict) -> pb.Schema.Block:
    """A protocol block from a schema entry's attributes (nested blocks have kind=block)."""
    return pb.Schema.Block(
        attributes=[_attribute_pb(n, s) for n, s in attrs.items() if s.get("kind") != "block"],
        block_types=[
            pb.Schema.NestedBlock(
                type_name=n,
                block=block_pb(s["block"]),
                nesting=_BLOCK_MODES[s["nesting_mode"]],
                min_items=s.get("min_items", 0),
                max_items=s.get("max_items", 0),
            )
            for n, s in attrs.items()
            if s.get("kind") == "block"
        ],
        description_kind=PLAIN,
    )


# ---------------------------------------------------------------- values
def conform(attrs: dict, value: Any) -> Any:
    """`value` with exactly the schema's keys at every level (missing ones null), as Terraform requires."""
    if value is None or value is Unknown:
        return value
    out = {}
    for name, spec in attrs.items():
        v = value.get(name)
        if spec.get("kind") == "block":
            if spec["nesting_mode"] == "single":
                out[name] = conform(spec["block"], v)
            elif v is Unknown:
                out[name] = v
            else:
                out[name] = [conform(spec["block"], item) for item in v or []]
        elif "attributes" in spec:
            out[name] = conform(spec["attributes"], v)
        else:
            out[name] = v
    return out


def has_unknown(value: Any) -> bool:
    if value is Unknown:
        return True
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return False


def resolve(planned: Any, actual: Any) -> Any:
    """The planned value with every unknown part taken from what the API reported (null if it said nothing)."""
    if planned is Unknown:
        return actual
    if isinstance(planned, dict):
        actual = actual if isinstance(actual, dict) else {}
        return {k: resolve(v, actual.get(k)) for k, v in planned.items()}
    if isinstance(planned, list) and has_unknown(planned):
        actual = actual if isinstance(actual, list) else []
        return [resolve(v, actual[i] if i < len(actual) else None) for i, v in enumerate(planned)]
    return planned


def _plan_block(attrs: dict, planned: dict, config: dict | None, prior: dict | None) -> None:
    """Fill defaults and mark computed values unknown on create; keep prior computed values on update."""
    config = config or {}
    for name, spec in attrs.items():
        cfg = config.get(name)
        if spec.get("kind") == "block":
            if spec["nesting_mode"] == "single":
                continue
            if isinstance(cfg, list) and cfg:  # elements from configuration: plan their computed attributes
                prior_items = (prior or {}).get(name) or []
                items = planned.get(name)
                for i, item in enumerate(items if isinstance(items, list) else []):
                    if isinstance(item, dict):
                        prior_item = prior_items[i] if i < len(prior_items) else None
                        _plan_block(spec["block"], item, cfg[i] if i < len(cfg) else None, prior_item)
            elif spec.get("computed"):  # an SDKv2 Optional+Computed block the API fills in
                planned[name] = prior.get(name) if prior is not None else Unknown
            continue
        if cfg is not None:
            if "attributes" in spec and isinstance(planned.get(name), dict):
                _plan_block(spec["attributes"], planned[name], cfg, (prior or {}).get(name))
            continue
        if "default" in spec:
            planned[name] = spec["default"]
        elif spec.get("computed"):
            planned[name] = prior.get(name) if prior is not None else Unknown


def _replace_paths(attrs: dict, prior: dict, planned: dict) -> list[list[str]]:
    """Top-level paths whose force-new attributes (or force-new attributes of their blocks) changed."""
    paths = []
    for name, spec in attrs.items():
        if spec.get("kind") == "block":
            inner = [n for n, s in spec["block"].items() if s.get("force_new")]
            before = [{n: (i or {}).get(n) for n in inner} for i in prior.get(name) or []]
            after = (
                [{n: (i or {}).get(n) for n in inner} for i in planned.get(name) or []]
                if planned.get(name) is not Unknown
                else before
            )
            if inner and before != after:
                paths.append([name])
        elif spec.get("force_new") and planned.get(name) != prior.get(name):
            paths.append([name])
    return paths


def _dv(value: Any) -> pb.DynamicValue:
    """A DynamicValue; null is encoded explicitly (an empty DynamicValue is not null to Terraform)."""
    if value is None:
        return pb.DynamicValue(msgpack=msgpack.packb(None))
    return to_dynamic_value(value)


def _diags(exc: Exception) -> Diagnostics:
    diags = Diagnostics()
    if isinstance(exc, ProviderError):
        diags.add_error(exc.summary, exc.detail)
    else:
        log.exception("stub provider bug")
        diags.add_error(f"Internal error in the swarmwiz lab provider: {type(exc).__name__}: {exc}")
    return diags


# ---------------------------------------------------------------- HTTP
def lab_url(url: str, env_name: str) -> str:
    """`url` if it points at the lab on loopback; the stub never talks to a real cloud."""
    host = urlsplit(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ProviderError(
            "This is the swarmwiz lab provider; it only talks to the local lab API",
            f'{env_name} is {url!r}. Run `eval "$(swarmwiz lab env)"` first, or remove TF_CLI_CONFIG_FILE to use '
            "the real providers.",
        )
    return url.rstrip("/")


RETRIED = (429, 502, 503, 504)
ATTEMPTS = 6  # as the real providers' HTTP clients: a few retries with backoff, then the error


def http(method: str, url: str, headers: dict, body: Any = None, *, raw: bool = False) -> tuple[int, Any]:
    """One request to the lab API; returns (status, decoded JSON or bytes); raises on transport failure.
    429 and 5xx are retried a bounded number of times (Retry-After honoured, else backoff with jitter)."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    for attempt in range(ATTEMPTS):
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        retry_after = None
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
            retry_after = exc.headers.get("Retry-After")
        except OSError as exc:
            where = f"{method} {urlsplit(url).path}"
            raise ProviderError(
                "The swarmwiz lab API is not reachable", f"{where}: {exc}. Is the lab running? (`swarmwiz lab status`)"
            ) from None
        if status not in RETRIED or attempt == ATTEMPTS - 1:
            break
        try:
            wait = float(retry_after) if retry_after else 0.2 * 2**attempt
        except ValueError:
            wait = 0.2 * 2**attempt
        time.sleep(min(wait, 10.0) * random.uniform(0.8, 1.2))
    if raw and status < 300:
        return status, payload
    try:
        return status, json.loads(payload) if payload else None
    except ValueError:
        return status, payload


# ---------------------------------------------------------------- resources
class Resource:
    """One resource or data source type: subclasses talk to the API; planning and encoding are generic."""

    name = ""
    legacy = False  # SDKv2 providers answer with the legacy type system flag

    def __init__(self, provider: Provider, spec: dict) -> None:
        self.provider = provider
        self.spec = spec
        self.attrs = spec["attributes"]

    def validate(self, config: dict) -> list[str]:
        return []

    def create(self, planned: dict) -> dict:
        raise NotImplementedError

    def read(self, state: dict) -> dict:
        """What the API reports now; raises NotFound when the object is gone."""
        raise NotImplementedError

    def update(self, prior: dict, planned: dict) -> dict:
        return self.read(prior)

    def delete(self, state: dict) -> None:
        raise NotImplementedError


class Provider:
    """A stub provider: its config schema and resource classes; configure() reads credentials from env."""

    name = ""
    resources: list[type[Resource]] = []
    data_sources: list[type[Resource]] = []

    def __init__(self) -> None:
        schema = load_schema(self.name)
        self.provider_attrs = schema["provider"]
        self.resource_types = {r.name: r(self, schema["resources"][r.name]) for r in self.resources}
        self.data_types = {d.name: d(self, schema["data_sources"][d.name]) for d in self.data_sources}

    def configure(self, config: dict) -> list[str]:
        return []

    def schema_pb(self) -> pb.GetProviderSchema.Response:
        def schema(entry: dict) -> pb.Schema:
            return pb.Schema(version=entry.get("version", 0), block=block_pb(entry["attributes"]))

        return pb.GetProviderSchema.Response(
            provider=pb.Schema(block=block_pb(self.provider_attrs)),
            resource_schemas={n: schema(r.spec) for n, r in self.resource_types.items()},
            data_source_schemas={n: schema(d.spec) for n, d in self.data_types.items()},
            server_capabilities=pb.ServerCapabilities(plan_destroy=True, get_provider_schema_optional=False),
        )


class _NoFunctions:
    def get_functions(self) -> list:
        return []


class Servicer(ProviderServicer):
    """The tfplugin6 service over a stub Provider; inherits tf's metadata and function endpoints."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(_NoFunctions())  # type: ignore[arg-type]
        self.p = provider

    def GetProviderSchema(self, request, context):
        return self.p.schema_pb()

    def ValidateProviderConfig(self, request, context):
        return pb.ValidateProviderConfig.Response()

    def ConfigureProvider(self, request, context):
        diags = Diagnostics()
        try:
            for problem in self.p.configure(read_dynamic_value(request.config) or {}):
                diags.add_error(problem)
        except Exception as exc:
            diags = _diags(exc)
        return pb.ConfigureProvider.Response(diagnostics=diags.to_pb())

    def _validate(self, res: Resource, request) -> list:
        diags = Diagnostics()
        for problem in res.validate(read_dynamic_value(request.config) or {}):
            diags.add_error(problem)
        return diags.to_pb()

    def ValidateResourceConfig(self, request, context):
        res = self.p.resource_types[request.type_name]
        return pb.ValidateResourceConfig.Response(diagnostics=self._validate(res, request))

    def ValidateDataResourceConfig(self, request, context):
        res = self.p.data_types[request.type_name]
        return pb.ValidateDataResourceConfig.Response(diagnostics=self._validate(res, request))

    def UpgradeResourceState(self, request, context):
        res = self.p.resource_types[request.type_name]
        state = json.loads(request.raw_state.json) if request.raw_state.json else None
        return pb.UpgradeResourceState.Response(upgraded_state=_dv(conform(res.attrs, state)))

    def ReadResource(self, request, context):
        res = self.p.resource_types[request.type_name]
        state = read_dynamic_value(request.current_state)
        try:
            observed = res.read(state)
            new = conform(res.attrs, {**state, **observed})
        except NotFound:
            new = None
        except Exception as exc:
            return pb.ReadResource.Response(diagnostics=_diags(exc).to_pb())
        return pb.ReadResource.Response(new_state=_dv(new), private=request.private)

    def PlanResourceChange(self, request, context):
        res = self.p.resource_types[request.type_name]
        prior = read_dynamic_value(request.prior_state)
        proposed = read_dynamic_value(request.proposed_new_state)
        config = read_dynamic_value(request.config)
        if proposed is None:  # destroy
            return pb.PlanResourceChange.Response(planned_state=_dv(None), legacy_type_system=res.legacy)
        planned = copy.deepcopy(proposed)
        _plan_block(res.attrs, planned, config, prior)
        replace = _replace_paths(res.attrs, prior, planned) if prior is not None else []
        return pb.PlanResourceChange.Response(
            planned_state=_dv(conform(res.attrs, planned)),
            requires_replace=[
                pb.AttributePath(steps=[pb.AttributePath.Step(attribute_name=p) for p in path]) for path in replace
            ],
            planned_private=request.prior_private,
            legacy_type_system=res.legacy,
        )

    def ApplyResourceChange(self, request, context):
        res = self.p.resource_types[request.type_name]
        prior = read_dynamic_value(request.prior_state)
        planned = read_dynamic_value(request.planned_state)
        try:
            if planned is None:
                with contextlib.suppress(NotFound):
                    res.delete(prior)
                new = None
            elif prior is None:
                new = conform(res.attrs, resolve(planned, res.create(planned)))
            else:
                new = conform(res.attrs, resolve(planned, res.update(prior, planned)))
        except Exception as exc:
            # A failed create leaves nothing; a failed update or delete keeps the prior object in state.
            return pb.ApplyResourceChange.Response(
                new_state=_dv(prior), diagnostics=_diags(exc).to_pb(), legacy_type_system=res.legacy
            )
        return pb.ApplyResourceChange.Response(
            new_state=_dv(new), private=request.planned_private, legacy_type_system=res.legacy
        )

    def ImportResourceState(self, request, context):
        diags = Diagnostics().add_error(f"{request.type_name} cannot be imported in the swarmwiz lab")
        return pb.ImportResourceState.Response(diagnostics=diags.to_pb())

    def ReadDataSource(self, request, context):
        res = self.p.data_types[request.type_name]
        config = read_dynamic_value(request.config) or {}
        try:
            found = res.read(config)
            state = conform(res.attrs, {**found, **{k: v for k, v in config.items() if v is not None}})
        except Exception as exc:
            return pb.ReadDataSource.Response(diagnostics=_diags(exc).to_pb())
        return pb.ReadDataSource.Response(state=_dv(state))

    def StopProvider(self, request, context):
        # Keep serving: in-flight creates finish and land in state (Terraform sends this on Ctrl-C).
        return pb.StopProvider.Response()


def serve(provider: Provider) -> None:
    """Run the go-plugin handshake and serve until Terraform shuts the plugin down (SIGINT is ignored)."""
    import grpc
    from tf.gen import grpc_controller_pb2 as controller_pb
    from tf.gen import grpc_controller_pb2_grpc as controller_rpc
    from tf.gen import grpc_stdio_pb2_grpc as stdio_rpc
    from tf.gen import tfplugin_pb2_grpc as rpc
    from tf.runner import _self_signed_cert

    # Ctrl-C reaches the whole process group; Terraform decides when to stop us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if not os.access(Path.home(), os.W_OK):  # tf caches its certificate under $HOME
        os.environ["HOME"] = tempfile.mkdtemp(prefix="swarmwiz-provider-")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    rpc.add_ProviderServicer_to_server(Servicer(provider), server)
    done = futures.Future()

    class Controller(controller_rpc.GRPCControllerServicer):
        def Shutdown(self, request, context):
            done.set_result(True)
            return controller_pb.Empty()

    class Stdio(stdio_rpc.GRPCStdioServicer):
        def StreamStdio(self, request, context):
            return iter([])

    controller_rpc.add_GRPCControllerServicer_to_server(Controller(), server)
    stdio_rpc.add_GRPCStdioServicer_to_server(Stdio(), server)
    with tempfile.TemporaryDirectory(prefix="swarmwiz-provider-") as tmp:
        sock = f"{tmp}/plugin.sock"
        chain, creds = _self_signed_cert()
        server.add_secure_port(f"unix://{sock}", creds)
        server.start()
        import base64

        cert = base64.b64encode(chain).decode().rstrip("=")
        print(f"1|6|unix|{sock}|grpc|{cert}", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: done.set_result(True) if not done.done() else None)
        done.result()
        server.stop(grace=1)
