"""Former home of the API clients, kept as re-exports for code written against it; use `swarmwiz.core.api`."""

from swarmwiz.core.api import CLOUDFLARE_URL, DEFAULT_TIMEOUT, SCALEWAY_URL, Endpoints
from swarmwiz.core.api.validate import cloudflare_zone_id, list_cloudflare_zones, require_valid, validate_credentials
from swarmwiz.core.errors import ApiUnreachable

__all__ = [
    "CLOUDFLARE_URL",
    "DEFAULT_TIMEOUT",
    "SCALEWAY_URL",
    "ApiUnreachable",
    "Endpoints",
    "cloudflare_zone_id",
    "list_cloudflare_zones",
    "require_valid",
    "validate_credentials",
]
