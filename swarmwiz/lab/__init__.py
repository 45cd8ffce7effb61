"""A local cloud for rehearsals and end-to-end tests: fake Scaleway + Cloudflare APIs, stub providers, real hosts."""

from swarmwiz.lab.control import Lab, LabError, env_exports

__all__ = ["Lab", "LabError", "env_exports"]
