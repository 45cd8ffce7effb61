"""The wizard's services live in the shared layer (`swarmwiz.flows.services`) so plain mode uses the same ones."""

from swarmwiz.flows.services import ClusterInfo, Services

__all__ = ["ClusterInfo", "Services"]
