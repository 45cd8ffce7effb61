"""The one layer over the Scaleway and Cloudflare APIs, built on their official SDKs (imported on first use).

- `endpoints`: base URLs (`Endpoints`) and the retry policy (`RetryPolicy`), no SDK needed.
- `clients`: `ApiClients` builds the SDK clients once per run from (Credentials, Endpoints), retries configured
  in one place (`retry`), and turns every SDK error into a swarmwiz `ApiError` without secrets.
- `validate`: live credential checks. `inventory`: reading what the cloud holds of a cluster (ownership checked
  here, client-side). `cleanup`: the only code that deletes, and only what `inventory` proved to be ours.

Nothing here imports an SDK at module import: the wizard draws its first frame before any of them loads.
"""

from swarmwiz.core.api.endpoints import CLOUDFLARE_URL, DEFAULT_TIMEOUT, SCALEWAY_URL, Endpoints, RetryPolicy

__all__ = ["CLOUDFLARE_URL", "DEFAULT_TIMEOUT", "SCALEWAY_URL", "Endpoints", "RetryPolicy"]
