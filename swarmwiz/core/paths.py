"""Every path swarmwiz reads or writes, resolved in one place (SWARMWIZ_HOME overrides platformdirs)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import swarmwiz

HOME_ENV = "SWARMWIZ_HOME"
DIR_MODE = 0o700
FILE_MODE = 0o600


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


def make_dir(path: Path, mode: int = DIR_MODE) -> Path:
    """Create `path` and every missing parent with `mode` (0700), whatever the umask; returns `path`.

    `Path.mkdir(parents=True, mode=...)` applies `mode` to the last directory only and the umask to all of them,
    so with umask 000 the parents would be world-writable. Each directory created here is chmod-ed explicitly;
    `path` itself is chmod-ed even when it existed.
    """
    path = Path(path)
    missing = []
    for parent in (path, *path.parents):
        if parent.is_dir():
            break
        missing.append(parent)
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=mode)
            os.chmod(directory, mode)
    if path.stat().st_mode & 0o777 != mode:
        os.chmod(path, mode)
    return path


def atomic_write(path: Path, data: str | bytes, mode: int = FILE_MODE) -> None:
    """Write `data` to `path` (0600) so that readers see the old or the new file, never half of one.

    The one atomic writer of swarmwiz: a temporary file in the same directory, fsync-ed, then renamed. The
    directory is created 0700 when missing. An OSError (disk full, permission) propagates; entry points turn it
    into one sentence.
    """
    path = Path(path)
    if not path.parent.is_dir():
        make_dir(path.parent)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
