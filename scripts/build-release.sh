#!/usr/bin/env bash
# The production build of dtp, and the only definition of it: the Dockerfile's builder stage
# and CI (`make image-smoke`) both run this script, so CI tests exactly the binary the image
# ships.
#
#   cargo build --locked --release --bin dtp
#
# No features: the sandbox (fake OCM, Dynatrace, qontract-server) is not compiled in. The
# profile is Cargo.toml's [profile.release] (thin LTO, stripped); flags that the environment
# could add (RUSTFLAGS, CARGO_PROFILE_RELEASE_*, a build target) are cleared so that a
# developer's shell, CI and the image build produce the same binary.
#
# Usage: scripts/build-release.sh [OUT_DIR]   # prints the binary's path; copies it to OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."

unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET CARGO_FEATURES
while IFS= read -r var; do
    unset "$var"
done < <(compgen -e | grep -E '^CARGO_PROFILE_RELEASE_|^CARGO_TARGET_[A-Z0-9_]+_RUSTFLAGS$' || true)

cargo build --locked --release --bin dtp >&2

bin="${CARGO_TARGET_DIR:-target}/release/dtp"
if [[ $# -ge 1 ]]; then
    mkdir -p "$1"
    cp "$bin" "$1/dtp"
    bin="$1/dtp"
fi
echo "$bin"
