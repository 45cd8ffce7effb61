"""State a team can share: Terraform's S3 backend on the user's Object Storage bucket, with the workspace beside it.

Layout in the bucket, under `swarmwiz/<name>/`: `terraform.tfstate` (and Terraform's `terraform.tfstate.tflock`
while a run holds the lock), then the files another machine needs to operate the cluster: `cluster.toml`,
`terraform.tfvars.json`, `identity.json` (owner id, lab flag) and `known_hosts` (the nodes' public host keys, as
pinned from the fingerprints they published; no private host key ever leaves its node).
Credentials reach Terraform and boto3 only through the environment / arguments, never a file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarmwiz.core import tfstate
from swarmwiz.core.errors import InputError, RemoteError
from swarmwiz.core.paths import atomic_write

if TYPE_CHECKING:
    from swarmwiz.core.spec import ClusterSpec
    from swarmwiz.core.target import Target
    from swarmwiz.core.workspace import Workspace

PREFIX = "swarmwiz"
BACKEND_FILE = "backend.tf"
# Partial configuration: the values come at `terraform init -backend-config=...`, so the file holds no secret and
# no machine-specific endpoint.
BACKEND_TF = 'terraform {\n  backend "s3" {}\n}\n'
IDENTITY = "identity.json"
SHARED_FILES = ("cluster.toml", "terraform.tfvars.json", "known_hosts")
STATE_OBJECTS = ("terraform.tfstate", "terraform.tfstate.tflock")


def scaleway_s3_endpoint(region: str) -> str:
    """Scaleway Object Storage's S3 endpoint for a region (fr-par, nl-ams, pl-waw)."""
    return f"https://s3.{region}.scw.cloud"


class SharedState:
    """One cluster's shared state in `bucket` at `endpoint`, reached with the Scaleway keys in `env`."""

    def __init__(self, bucket: str, name: str, region: str, endpoint: str, env: Mapping[str, str]) -> None:
        self.bucket = bucket
        self.name = name
        self.region = region
        self.endpoint = endpoint
        self._access = env.get("SCW_ACCESS_KEY", "")
        self._secret = env.get("SCW_SECRET_KEY", "")

    @property
    def prefix(self) -> str:
        return f"{PREFIX}/{self.name}/"

    @property
    def state_key(self) -> str:
        return self.prefix + "terraform.tfstate"

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def backend_config(self) -> list[str]:
        """The `-backend-config=` arguments of `terraform init` (no credentials: those come from the environment)."""
        settings = {
            "bucket": self.bucket,
            "key": self.state_key,
            "region": self.region,
            "endpoints": f'{{ s3 = "{self.endpoint}" }}',
            "use_lockfile": "true",
            "use_path_style": "true",
            # Object Storage is not AWS: no STS, no account id, no region list, no EC2 metadata, and no trailing
            # checksums (Scaleway refuses the aws-chunked uploads the SDK would otherwise send).
            "skip_credentials_validation": "true",
            "skip_region_validation": "true",
            "skip_requesting_account_id": "true",
            "skip_metadata_api_check": "true",
            "skip_s3_checksum": "true",
        }
        return [f"-backend-config={k}={v}" for k, v in settings.items()]

    def environment(self) -> dict[str, str]:
        """The AWS variables Terraform's S3 backend reads, from the Scaleway keys (process environment only)."""
        return {"AWS_ACCESS_KEY_ID": self._access, "AWS_SECRET_ACCESS_KEY": self._secret}

    def fingerprint(self) -> str:
        """What `terraform init` was run with (a change means init again)."""
        return "\n".join(self.backend_config())

    # -- objects ---------------------------------------------------------------------------------------------------
    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self._access,
            aws_secret_access_key=self._secret,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 4, "mode": "standard"},  # bounded, with backoff and jitter
                connect_timeout=10,
                read_timeout=30,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def ensure_bucket(self) -> None:
        """Use the bucket when these credentials can, create it when it does not exist; else one sentence."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client()
        try:
            client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise InputError(
                    f"state.bucket: the bucket {self.bucket!r} exists but these credentials cannot use it "
                    f"({code or 'refused'}); choose a bucket of your own project",
                    field="state.bucket",
                ) from None
        except BotoCoreError as exc:
            raise RemoteError(f"Object Storage at {self.endpoint} did not answer: {exc}") from None
        try:
            client.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": self.region})
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code != "BucketAlreadyOwnedByYou":
                raise InputError(
                    f"state.bucket: the bucket {self.bucket!r} cannot be created ({code}); bucket names are global, "
                    "choose another",
                    field="state.bucket",
                ) from None

    def push(self, workspace_dir: Path, identity: dict[str, Any]) -> None:
        """Store the workspace files another machine needs beside the state (idempotent)."""
        client = self._client()
        for name in SHARED_FILES:
            path = workspace_dir / name
            if path.is_file():
                client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=path.read_bytes())
        client.put_object(Bucket=self.bucket, Key=self.prefix + IDENTITY, Body=json.dumps(identity).encode())

    def pull(self, workspace_dir: Path) -> dict[str, Any]:
        """Fetch the shared workspace files into `workspace_dir`; returns the identity (owner id, lab flag)."""
        from botocore.exceptions import ClientError

        client = self._client()
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        if self.prefix + "cluster.toml" not in keys or self.prefix + IDENTITY not in keys:
            raise InputError(
                f"name: no shared cluster {self.name!r} in bucket {self.bucket!r} (nothing at {self.where}); "
                "check the name, the bucket and the credentials' project",
                field="name",
            )
        identity: dict[str, Any] = {}
        for key in keys:
            rel = key[len(self.prefix) :]
            if rel in STATE_OBJECTS or ".." in rel or rel.startswith("/"):
                continue  # the state stays in the bucket: Terraform reads it there
            try:
                body = client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError:
                continue  # removed between list and get: the next push brings it back
            if rel == IDENTITY:
                identity = json.loads(body)
                continue
            atomic_write(workspace_dir / rel, body)
        return identity

    def owner(self) -> str | None:
        """The owner id stored beside the shared state, or None when nothing is stored there yet."""
        from botocore.exceptions import ClientError

        try:
            body = self._client().get_object(Bucket=self.bucket, Key=self.prefix + IDENTITY)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        try:
            owner = json.loads(body).get("owner_id")
        except (ValueError, AttributeError):
            owner = None
        return str(owner) if owner else "(unreadable)"

    def check_owner(self, owner_id: str) -> None:
        """Refuse to share the state of a cluster of the same name that another workspace created (another owner)."""
        stored = self.owner()
        if stored is not None and stored != owner_id:
            raise InputError(
                f"state.bucket: {self.where} already holds cluster {self.name!r} of another workspace (owner id "
                f"{stored}, this one is {owner_id}); operate that cluster with `swarmwiz clone {self.name} --bucket "
                f"{self.bucket}`, or choose another name",
                field="state.bucket",
            )

    def remove(self, owner_id: str) -> None:
        """Delete the shared files after a clean destroy (the state object too: it holds nothing any more), only
        when the identity stored there is this workspace's: never another cluster's files."""
        if self.owner() not in (None, owner_id):
            return
        client = self._client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith(".tflock"):
                    client.delete_object(Bucket=self.bucket, Key=obj["Key"])


class StateSync:
    """Keeps one pipeline's workspace in step with the cluster's shared state ([state] bucket in cluster.toml);
    with a local state there is nothing to sync and every method does nothing.

    `environment` builds the pipeline's run environment (preparing the target, then calling `backend_environment`);
    `terraform` gives the pipeline's Terraform runner. Both are called only when needed.
    """

    def __init__(
        self,
        spec: ClusterSpec,
        workspace: Workspace,
        target: Target,
        *,
        environment: Callable[[], Mapping[str, str]],
        terraform: Callable[[], Any],
    ) -> None:
        self.spec = spec
        self.workspace = workspace
        self.target = target
        self._environment = environment
        self._terraform = terraform
        self._shared: SharedState | None = None

    def backend_environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """What Terraform's S3 backend adds to the run's environment `env` (empty for a local state)."""
        if not self.spec.state_bucket:
            return {}
        region = self.spec.region
        self._shared = SharedState(self.spec.state_bucket, self.spec.name, region, self.target.s3_endpoint(region), env)
        return self._shared.environment()

    @property
    def shared(self) -> SharedState | None:
        """The cluster's shared state in Object Storage, or None for a local state."""
        if not self.spec.state_bucket:
            return None  # a local state needs no credentials to be read
        self._environment()
        return self._shared

    def pull(self) -> None:
        """Refresh the workspace's copy of a shared state (what inventory and ownership checks read)."""
        if self.shared is not None:
            text = self._terraform().state_pull()
            if text.strip():
                atomic_write(self.workspace.state_path, text)
            else:  # nothing applied yet: no copy, as with a local state before the first apply
                self.workspace.state_path.unlink(missing_ok=True)

    def push(self) -> None:
        """Store the spec, owner identity, host keys and known hosts beside a shared state."""
        shared = self.shared
        if shared is not None:
            identity = {"owner_id": self.workspace.ensure_owner_id(), "lab": self.target.is_lab}
            shared.push(self.workspace.path, identity)

    def backend_fingerprint(self) -> str:
        """What `terraform init` records of the backend (empty for a local state): a change means init again.

        InputError when the workspace's backend file says the state is shared but cluster.toml has no [state]."""
        shared = self.shared
        if shared is None and (self.workspace.path / BACKEND_FILE).is_file():
            raise InputError(
                "state.bucket: this cluster's Terraform state is shared in Object Storage; keep its [state] bucket "
                "in cluster.toml"
            )
        return shared.fingerprint() if shared else ""

    def prepare_backend(self) -> list[str]:
        """Before `terraform init`: make sure the bucket is usable and holds no other workspace's cluster, and write
        the backend file; returns init's -backend-config arguments (none for a local state)."""
        shared = self.shared
        if shared is None:
            return []
        backend = self.workspace.path / BACKEND_FILE
        local = self.workspace.path / "terraform.tfstate"
        if not backend.is_file() and local.is_file() and tfstate.holds_resources(tfstate.load(local)):
            # Terraform would start from an empty shared state and create the cluster a second time.
            raise InputError(
                f"state.bucket: cluster {self.spec.name!r} is deployed with a local state ({local}); moving it "
                "to a bucket is not supported: remove [state] from cluster.toml, or destroy the cluster first"
            )
        shared.ensure_bucket()
        shared.check_owner(self.workspace.ensure_owner_id())  # before Terraform reads another cluster's state
        atomic_write(backend, BACKEND_TF)
        return shared.backend_config()

    def init_message(self) -> str:
        """The init phase's closing line: where the state is shared (empty for a local state)."""
        shared = self.shared
        return f"state shared at {shared.where}" if shared is not None else ""

    def remove(self) -> None:
        """After a clean destroy nothing remains to share: a later clone says so plainly (only this workspace's own
        prefix)."""
        shared = self.shared
        if shared is not None:
            shared.remove(self.workspace.ensure_owner_id())
