#!/usr/bin/env bash
# Installs the pinned tools of `make check-deploy` / `make generate` into .tools/ (gitignored):
#   .tools/deploy-venv   Python: hadolint, helm-python-sdk (Helm v4 Go SDK), kubernetes-validate,
#                        promql-parser — pinned in scripts/deploy-tools/requirements.txt
#   .tools/deploy-node   npm: @kubernetes-models/prometheus-operator — pinned with integrity
#                        hashes in scripts/deploy-tools/package-lock.json
# Needs python3 and, for the ServiceMonitor/PrometheusRule check, node + npm. Idempotent: a
# stamp file holding the hash of the pin files skips the install when nothing changed.
#
# Usage: scripts/deploy-tools.sh          # install (quiet)
#        scripts/deploy-tools.sh --force  # reinstall
set -euo pipefail
cd "$(dirname "$0")/.."

readonly PINS=scripts/deploy-tools
readonly VENV=.tools/deploy-venv
readonly NODE_DIR=.tools/deploy-node

pins_hash() {
    cat "$PINS/requirements.txt" "$PINS/package.json" "$PINS/package-lock.json" | sha256sum | cut -d' ' -f1
}

force=0
[[ "${1:-}" == "--force" ]] && force=1

want="$(pins_hash)"
if [[ $force == 0 && -f .tools/deploy-tools.stamp && "$(cat .tools/deploy-tools.stamp)" == "$want" ]] \
    && [[ -x "$VENV/bin/hadolint" && -d "$NODE_DIR/node_modules/@kubernetes-models/prometheus-operator" ]]; then
    exit 0
fi

command -v python3 >/dev/null || { echo "deploy-tools.sh: python3 is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "deploy-tools.sh: node and npm are required (apt-get install nodejs npm)" >&2; exit 1; }

mkdir -p .tools
if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$PINS/requirements.txt"

mkdir -p "$NODE_DIR"
cp "$PINS/package.json" "$PINS/package-lock.json" "$NODE_DIR/"
(cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

# The versions the checks rely on.
"$VENV/bin/hadolint" --version | grep -q ' 2\.15\.1' \
    || { echo "deploy-tools.sh: hadolint is not 2.15.1" >&2; exit 1; }
"$VENV/bin/python" -c 'import helm_python as h, sys; sys.exit(h.helm_sdk_version() != "v4.2.3")' \
    || { echo "deploy-tools.sh: helm-python-sdk does not embed Helm v4.2.3" >&2; exit 1; }

echo "$want" > .tools/deploy-tools.stamp
