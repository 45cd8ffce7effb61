"""State a team can share: Terraform's S3 backend on the user's Object Storage bucket, with the workspace beside it.

Layout in the bucket, under `swarmwiz/<name>/`: `terraform.tfstate` (and Terraform's `terraform.tfstate.tflock`
while a run holds the lock), then the files another machine needs to operate the cluster: `cluster.toml`,
`terraform.tfvars.json`, `identity.json` (owner id, lab flag) and `known_hosts` (the nodes' public host keys, as
pinned from the fingerprints they published; no private host key ever leaves its node).
Credentials reach Terraform and boto3 only through the environment / arguments, never a file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarmwiz.core import events as ev
from swarmwiz.core import tfstate
from swarmwiz.core.errors import EngineError, InputError, Interrupted, RemoteError, SwarmwizError
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
LOCAL_STATE = "terraform.tfstate"
# The local state as it was when a move to the bucket began: Terraform empties terraform.tfstate once it has copied
# it, so this copy is what a failed move is undone from; after a checked move it stays as a record.
BEFORE_MOVE = "terraform.tfstate.before-move"
MOVED = "terraform.tfstate.moved-to-bucket"


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

    def ensure_bucket(self, *, create: bool = True) -> bool:
        """Use the bucket when these credentials can, create it when it does not exist (unless `create` is false);
        else one sentence. Returns whether the bucket exists now."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client()
        try:
            client.head_bucket(Bucket=self.bucket)
            return True
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
        if not create:
            return False
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
        return True

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

    def read_state(self) -> dict[str, Any] | None:
        """The Terraform state stored in the bucket (None when there is none; {} when it is not JSON)."""
        from botocore.exceptions import ClientError

        try:
            body = self._client().get_object(Bucket=self.bucket, Key=self.state_key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        try:
            data = json.loads(body)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

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
        self._stay_local = False

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
        if not self.spec.state_bucket or self._stay_local:
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
        if self.moving():
            # Terraform would start from an empty shared state and create the cluster a second time.
            raise InputError(
                f"state.bucket: cluster {self.spec.name!r} is deployed with a local state; deploy moves it to "
                f"{shared.where} once you approve the move"
            )
        shared.ensure_bucket()
        shared.check_owner(self.workspace.ensure_owner_id())  # before Terraform reads another cluster's state
        atomic_write(self.workspace.path / BACKEND_FILE, BACKEND_TF)
        return shared.backend_config()

    # -- moving a local state to the bucket ------------------------------------------------------------------------
    def moving(self) -> bool:
        """Whether cluster.toml asks for a shared state while the cluster is deployed with a local one (a move is
        due: a deploy moves it, other operations keep using the local state until then)."""
        ws = self.workspace.path
        if not self.spec.state_bucket or self._stay_local:
            return False
        if (ws / BEFORE_MOVE).is_file():
            return True  # a move that was cut short (the process killed): the pre-move copy is the state
        return not (ws / BACKEND_FILE).is_file() and tfstate.holds_resources(tfstate.load(ws / LOCAL_STATE))

    def stay_local(self) -> str:
        """Keep using the local state for this run (a plan, status or destroy moves nothing); returns why, for a
        notice."""
        if (self.workspace.path / BEFORE_MOVE).is_file():
            self._undo_move(self.workspace.path / BEFORE_MOVE)  # a move cut short: back to the state before it
        self._stay_local = True
        return (
            f"the Terraform state of cluster {self.spec.name!r} stays local until a deploy moves it to bucket "
            f"{self.spec.state_bucket!r} (deploy asks first)"
        )

    def move(self, terraform: Any, approve: Callable[[str], bool]) -> Iterator[ev.Event]:
        """Move a locally deployed cluster's state to its bucket with Terraform itself (`init -migrate-state`), once
        `approve` said yes to the question it is given; then check that the bucket's copy records the same objects and
        outputs before the local file goes, and store the spec and owner identity beside it.

        InputError (nothing changed) when the bucket holds another workspace's cluster of this name, or another
        state, or when the move was not approved; EngineError when the move failed half-way, after the local state
        was put back in use (the bucket never becomes the only copy before it was checked)."""
        shared = self.shared
        assert shared is not None, "move() needs [state] bucket in the spec"
        self._start_again_after_a_cut_short_move()
        state = tfstate.load(self.workspace.path / LOCAL_STATE)
        self._refuse_a_bucket_in_use(shared, state)  # nothing is created before the move is approved
        self._ask_first(shared, approve)
        yield from self._copy_and_check(shared, terraform, state)  # on any failure the local state is back in use
        yield from self._keep_the_checked_copy(shared)

    # The steps of a move, in order.
    def _start_again_after_a_cut_short_move(self) -> None:
        """A move cut short (the process killed) starts again from the state as it was before it."""
        before = self.workspace.path / BEFORE_MOVE
        if before.is_file():
            self._undo_move(before)
            self._stay_local = False

    def _refuse_a_bucket_in_use(self, shared: SharedState, state: dict[str, Any]) -> None:
        """InputError when the bucket holds another workspace's cluster of this name, or a Terraform state with
        objects the local `state` does not have; an existing bucket is only read here."""
        exists = shared.ensure_bucket(create=False)
        if exists:
            shared.check_owner(self.workspace.ensure_owner_id())  # another workspace's cluster of this name: refused
        held = self._bucket_state(shared, "read") if exists else None
        # A copy left there by an earlier move of this cluster that did not finish is overwritten; another cluster's
        # state (objects this one does not hold) never is.
        strangers = tfstate.ids(held or {}) - tfstate.ids(state)
        if strangers:
            raise InputError(
                f"state.bucket: {shared.where} already holds another Terraform state of a cluster {self.spec.name!r} "
                f"({len(strangers)} objects this cluster does not have), so nothing was moved and the local state "
                "stays in use; choose another bucket, or another name"
            )

    def _ask_first(self, shared: SharedState, approve: Callable[[str], bool]) -> None:
        """The user's approval of the move through `approve`; InputError (nothing changed) without it."""
        name, where, local = self.spec.name, shared.where, self.workspace.path / LOCAL_STATE
        if not approve(f"move the Terraform state of cluster {name} from {local} to {where}"):
            raise InputError(
                f"state.bucket: the move of the Terraform state of cluster {name!r} to {where} was not approved, so "
                "nothing changed and the local state stays in use; approve the move, or remove [state] from "
                "cluster.toml (a shared state is never moved back to a local one)"
            )

    def _copy_and_check(self, shared: SharedState, terraform: Any, state: dict[str, Any]) -> Iterator[ev.Event]:
        """Keep a copy of the local `state`, have `terraform` copy it to the bucket, and check the bucket's copy; on
        any failure the local state is put back in use before the error goes on (Interrupted, EngineError, or the
        error as it is for a second Ctrl-C or a bug)."""
        ws = self.workspace.path
        local, before = ws / LOCAL_STATE, ws / BEFORE_MOVE
        name, where = self.spec.name, shared.where
        yield ev.LogLine(ev.Phase.INIT, f"moving the Terraform state from {local} to {where}")
        shared.ensure_bucket()
        atomic_write(before, local.read_bytes())
        try:
            atomic_write(ws / BACKEND_FILE, BACKEND_TF)
            yield from terraform.migrate(shared.backend_config())
            self._check_the_copy(shared, state)
        except Interrupted:
            self._undo_move(before)
            raise Interrupted(
                f"the move of the Terraform state of cluster {name!r} to {where} was stopped; nothing was lost: "
                f"the local state {local} is back in use, so run deploy again to move it"
            ) from None
        except SwarmwizError as exc:
            self._undo_move(before)
            reason = str(exc).splitlines()[0].rstrip(".") if str(exc) else type(exc).__name__
            raise EngineError(
                f"moving the Terraform state of cluster {name!r} to {where} failed ({reason}); nothing was lost: the "
                f"local state {local} is back in use, so run deploy again to retry the move",
                title="State not moved",
            ) from None
        except BaseException:  # a second Ctrl-C, or a bug: the local state first, then the error as it is
            self._undo_move(before)
            raise

    def _check_the_copy(self, shared: SharedState, state: dict[str, Any]) -> None:
        """EngineError unless the bucket's copy records what the local `state` does."""
        # Terraform gives the copy a lineage and serial of its own (measured with 1.11 and 1.15), so what is
        # compared is what the state records: every object and output.
        held = self._bucket_state(shared, "check") or {}
        if [held.get(k) for k in ("resources", "outputs")] != [state.get(k) for k in ("resources", "outputs")]:
            found = f"{len(held.get('resources') or [])} resources"
            raise EngineError(
                f"the copy in the bucket ({found}, serial {held.get('serial')}) does not record what the local "
                f"state does ({len(state.get('resources') or [])} resources)"
            )

    def _keep_the_checked_copy(self, shared: SharedState) -> Iterator[ev.Event]:
        """The bucket's checked copy becomes the state: the local file goes (its pre-move copy stays as a record),
        and the spec and owner identity are stored beside it (RemoteError when they cannot be)."""
        from botocore.exceptions import BotoCoreError, ClientError

        ws = self.workspace.path
        (ws / LOCAL_STATE).unlink(missing_ok=True)  # Terraform left it empty; the bucket's copy was checked
        (ws / BEFORE_MOVE).replace(ws / MOVED)
        try:
            self.push()
        except (BotoCoreError, ClientError) as exc:
            raise RemoteError(
                f"the Terraform state of cluster {self.spec.name!r} moved to {shared.where} and was checked, but the "
                f"spec and owner id could not be stored beside it ({exc}); run deploy again to store them"
            ) from None
        said = f"the Terraform state moved to {shared.where}; the local copy is kept as {MOVED}"
        yield ev.Notice(ev.Phase.INIT, said)

    @staticmethod
    def _bucket_state(shared: SharedState, what: str) -> dict[str, Any] | None:
        """The bucket's state object, with Object Storage failures as one RemoteError (`what`: read or check)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return shared.read_state()
        except (BotoCoreError, ClientError) as exc:
            raise RemoteError(f"Object Storage did not let swarmwiz {what} {shared.state_key}: {exc}") from None

    def _undo_move(self, before: Path) -> None:
        """Put the local state back as it was before the move, and the workspace back on the local backend."""
        ws = self.workspace.path
        if before.is_file():
            atomic_write(ws / LOCAL_STATE, before.read_bytes())
            before.unlink()
        (ws / BACKEND_FILE).unlink(missing_ok=True)
        # Terraform's record of the backend it was initialised with, and swarmwiz's: the next init starts afresh.
        (ws / ".terraform" / "terraform.tfstate").unlink(missing_ok=True)
        (ws / ".terraform" / "swarmwiz-init").unlink(missing_ok=True)
        self._stay_local = True

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
