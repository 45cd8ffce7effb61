"""Operate a cluster from another machine: fetch its workspace from the shared state in Object Storage."""

from __future__ import annotations

import shutil
import time
from typing import Any

from swarmwiz.core.errors import InputError, SpecError
from swarmwiz.core.target import Target

DEFAULT_REGION = "fr-par"


def clone(name: str, bucket: str, target: Target, *, region: str = DEFAULT_REGION) -> Any:
    """Fetch cluster `name` from `bucket` into a new workspace here and attach it to the shared state; returns its
    Pipeline, attached (status, deploy and destroy then work as on the machine that deployed it)."""
    from swarmwiz.core.pipeline import Pipeline
    from swarmwiz.core.sharedstate import SharedState
    from swarmwiz.core.spec import check_bucket
    from swarmwiz.core.workspace import Workspace

    problems: list[str] = []
    check_bucket(bucket, problems)
    if problems:
        raise SpecError(problems)
    if region not in ("fr-par", "nl-ams", "pl-waw"):
        raise InputError(f"--region: {region!r:.40} is not an Object Storage region; use fr-par, nl-ams or pl-waw")
    ws = Workspace.for_name(name)
    if ws.exists():
        raise InputError(
            f"name: cluster {name!r} is already known here ({ws.path}); operate it directly, or forget it first"
        )
    target.prepare()
    shared = SharedState(bucket, name, region, target.s3_endpoint(region), target.environment())
    try:
        identity = shared.pull(ws.path)
        lab = bool(identity.get("lab"))
        if lab != target.is_lab:
            where = "the local lab" if lab else "the real clouds"
            raise InputError(f"name: cluster {name!r} lives in {where}; clone it {'with' if lab else 'without'} --lab")
        ws.write_meta({"owner_id": identity.get("owner_id"), "lab": lab, "state": "cloned", "created_at": time.time()})
        ws.ensure_owner_id()  # refuses a damaged owner id instead of inventing one: the cloud carries the real one
        ws.render(ws.load_spec(strict=False), lab=lab)  # the module files, from this machine's swarmwiz
        pipeline = Pipeline.for_name(name, target)
        for _event in pipeline.attach():
            pass
    except BaseException:
        shutil.rmtree(ws.path, ignore_errors=True)  # a half-cloned workspace would pass for a known cluster
        raise
    return pipeline
