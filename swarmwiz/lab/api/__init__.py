"""The lab API: the subset of the Scaleway and Cloudflare HTTP APIs that swarmwiz and the stub providers use.

Layout: `cloud` (shared state, credentials, faults, lock), `errors` (answers in each API's shape), `auth`,
`router`, `server` (HTTP handler and daemon), and one package per provider with `state`, `views` and `routes`
(`scaleway.power` holds every server power transition).
"""

from swarmwiz.lab.api.cloud import LabCloud, summarize
from swarmwiz.lab.api.errors import APIError
from swarmwiz.lab.api.server import main, serve

__all__ = ["APIError", "LabCloud", "main", "serve", "summarize"]
