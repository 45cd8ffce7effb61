"""The domain of swarmwiz: spec, catalogue, secrets, workspace, engine, swarm and pipeline (no UI imports)."""
