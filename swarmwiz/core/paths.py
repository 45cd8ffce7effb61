"""Every path swarmwiz reads or writes, resolved in one place (SWARMWIZ_HOME overrides platformdirs)."""

from __future__ import annotations

import os
from pathlib import Path

import swarmwiz

HOME_ENV = "SWARMWIZ_HOME"


def home() -> Path:
    """The root of everything swarmwiz writes: $SWARMWIZ_HOME, else the platform's user data directory."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir("swarmwiz", appauthor=False))


def clusters_dir() -> Path:
    """Directory holding one workspace per cluster."""
    return home() / "clusters"


def cache_dir() -> Path:
    """Directory for caches (live catalogue); under SWARMWIZ_HOME when it is set."""
    if os.environ.get(HOME_ENV):
        return home() / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir("swarmwiz", appauthor=False))


def lab_dir() -> Path:
    """State of the local lab (API state, host directories, provider mirror)."""
    return home() / "lab"


def assets_dir() -> Path:
    """The shipped assets: `swarmwiz/assets` once installed, `<checkout>/assets` from a source tree."""
    package = Path(swarmwiz.__file__).resolve().parent
    for candidate in (package / "assets", package.parent / "assets"):
        if (candidate / "terraform").is_dir():
            return candidate
    raise FileNotFoundError(f"swarmwiz assets not found next to {package}; the installation is incomplete")


def terraform_module_dir() -> Path:
    return assets_dir() / "terraform"


def bundled_catalog_path() -> Path:
    return assets_dir() / "catalog" / "scaleway.json"
