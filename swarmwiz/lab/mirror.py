"""The lab's Terraform provider mirror and CLI config, so `terraform init` installs the stub providers offline."""

from __future__ import annotations

import platform
from pathlib import Path

PYTHON_ENV = "SWARMWIZ_LAB_PYTHON"
PROVIDERS = {
    # The versions of the real providers whose schemas the stubs copy (see providers/schemas/).
    "registry.terraform.io/scaleway/scaleway": ("swarmwiz.lab.providers.scaleway", "2.81.0"),
    "registry.terraform.io/cloudflare/cloudflare": ("swarmwiz.lab.providers.cloudflare", "5.22.0"),
}
# The lock file records a hash of the launcher: it must not depend on the machine, the venv or the lab, so
# the interpreter comes from the environment (`swarmwiz lab env` sets it).
LAUNCHER = '#!/bin/sh\nexec "${{{env}:-python3}}" -m {module} "$@"\n'


def terraform_platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{platform.system().lower()}_{arch}"


def build(lab_dir: Path) -> Path:
    """Write the unpacked filesystem mirror and the CLI config under `lab_dir`; returns the CLI config path."""
    mirror = lab_dir / "mirror"
    for address, (module, version) in PROVIDERS.items():
        name = address.rsplit("/", 1)[1]
        target = mirror / address / version / terraform_platform() / f"terraform-provider-{name}_v{version}"
        text = LAUNCHER.format(env=PYTHON_ENV, module=module)
        if not target.exists() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            target.chmod(0o755)
    sources = ", ".join(f'"{a}"' for a in PROVIDERS)
    config = lab_dir / "terraformrc"
    text = (
        "# Written by swarmwiz: the lab's stub providers come from a local mirror; nothing is downloaded.\n"
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = [{sources}]\n  }}\n'
        f"  direct {{\n    exclude = [{sources}]\n  }}\n"
        "}\n"
    )
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    return config
