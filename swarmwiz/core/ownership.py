"""What the cloud holds of one cluster beside its Terraform state: its objects (found by name and owner id), those
an interrupted run left untracked, and their deletion once approved."""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING

from swarmwiz.core import events as ev
from swarmwiz.core.api.inventory import CloudObject, ClusterObjects, Inventory
from swarmwiz.core.errors import SwarmwizError

if TYPE_CHECKING:
    from swarmwiz.core.spec import ClusterSpec
    from swarmwiz.core.workspace import Workspace


class Ownership:
    """One cluster's objects in the cloud, proved its own by the workspace's owner id; `cloud` gives the run's API
    client (called only when the cloud is asked)."""

    def __init__(self, spec: ClusterSpec, workspace: Workspace, cloud: Callable[[], Inventory]) -> None:
        self.spec = spec
        self.workspace = workspace
        self._cloud = cloud

    @property
    def owner_id(self) -> str | None:
        """The workspace's owner id (None for a workspace made before owner ids: then nothing is provably ours)."""
        return getattr(self.workspace, "owner_id", None)

    def cluster_objects(self) -> ClusterObjects:
        spec = self.spec
        return self._cloud().cluster_objects(spec.name, self.owner_id, spec.region, list(spec.zones), spec.domain)

    def leftovers(self) -> list[CloudObject]:
        """What remains of the cluster: its owned objects (without an owner id: everything carrying its name)."""
        found = self.cluster_objects()
        return found.owned if found.owner_id else found.foreign

    def state_ids(self) -> set[str]:
        """IDs of every object in the Terraform state; StateUnreadable when it cannot be read."""
        return self.workspace.tracked_ids()

    def untracked(self) -> list[CloudObject]:
        """Objects of this cluster that Terraform does not track (left by a killed run); raises StateUnreadable.

        Empty while a Terraform process still holds the state's lock (it may be about to record those objects):
        Terraform then refuses to plan and explains the lock itself.
        """
        if terraform_holds_state(self.workspace.state_path):
            return []
        tracked = self.state_ids()
        return [o for o in self.leftovers() if o.id.rsplit("/", 1)[-1] not in tracked]

    def remove_untracked(
        self, phase: ev.Phase, approve: Callable[[list[CloudObject]], bool] | None, only: set[str] | None = None
    ) -> Generator[ev.Event, None, None]:
        """Delete the untracked objects, after `approve` saw the list (None: nobody to ask, so nothing is deleted);
        `only` limits the deletion to objects approved earlier (destroy lists them in its inventory)."""
        untracked = [o for o in self.untracked() if only is None or o.id in only]
        if not untracked:
            return
        listing = "; ".join(o.describe() for o in untracked)
        if approve is None or not approve(untracked):
            raise SwarmwizError(
                f"{len(untracked)} objects of cluster {self.spec.name} are not in Terraform's state (left by an "
                f"interrupted run): {listing}; nothing was deleted: approve their deletion, or delete them in the "
                "cloud consoles",
                title="Untracked objects",
            )

        from swarmwiz.core.api.cleanup import Cleanup

        # Refuses (before the notice) objects not proved to carry this workspace's owner id.
        deleting = Cleanup(self._cloud().api, self.spec.region, self.owner_id).delete_all(untracked)
        yield ev.Notice(
            phase,
            f"{len(untracked)} objects tagged for cluster {self.spec.name} are not in Terraform's state (left by an "
            "interrupted run); deleting them: " + listing,
        )
        for obj in deleting:
            yield ev.LogLine(phase, f"deleted untracked {obj.describe()}")


def terraform_holds_state(state: Path) -> bool:
    """Whether a Terraform process holds the local state's lock (an fcntl lock on terraform.tfstate).

    A stale `.terraform.tfstate.lock.info` left by a killed run does not count: the OS drops the lock itself
    when the process dies.
    """
    import fcntl

    try:
        fd = os.open(state, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
