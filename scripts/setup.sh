#!/usr/bin/env bash
# Set up a fresh Debian machine for swarmwiz: Debian packages for the lab and the keyring tests, then a venv
# in .venv with swarmwiz installed (editable) with its lab and test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(docker.io openssh-server openssh-client curl iproute2 nftables gnome-keyring dbus libsecret-tools tmux)
missing=()
for p in "${debs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "swarmwiz setup: Debian packages missing (${missing[*]}); run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian docker.io package may start a system dockerd; the lab runs its own per host and needs none.

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"
