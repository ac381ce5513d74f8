#!/usr/bin/env bash
# Builds dtp's container image as an OCI image layout, without a container engine.
#
# What `docker build` does with the Dockerfile, done with umoci on this (Debian 12) machine:
#
#   1. Installs umoci and skopeo with apt-get when they are missing.
#   2. Builds the production binary with scripts/build-release.sh (the Dockerfile's builder
#      step: `cargo build --locked --release --bin dtp`, no sandbox).
#   3. Assembles the runtime root filesystem: what the Dockerfile's runtime base
#      (gcr.io/distroless/base-nossl-debian12:nonroot) provides and dtp uses — the glibc
#      libraries `ldd` lists, the CA bundle, /etc/passwd and /etc/group with the nonroot user
#      65532, /tmp, /home/nonroot — plus what the runtime stage COPYs: libgcc_s and the
#      binary at its image path (mode 0555). Files come from this machine at the same paths.
#   4. Writes it as one layer into an OCI layout at target/image (tag `latest`) and sets the
#      image config from the Dockerfile's runtime stage: USER, ENTRYPOINT, CMD, EXPOSE, LABEL
#      (VERSION and REVISION as in docs/deploy.md: `git describe --tags --always`, `git
#      rev-parse HEAD`; override with the environment), and the base's WorkingDir and Env.
#   5. Prints the manifest digest and the image size (the sum of its blobs, what a registry
#      stores).
#
# Reproducible: the layer is a tar written with sorted names, numeric owners, no atime/ctime
# and every mtime set to SOURCE_DATE_EPOCH (the last commit's time); the layer's history entry
# and the config have that time as `created` (umoci config adds no history). Two builds of the
# same sources give the same digest (scripts/check-image.py checks that).
#
# Usage: scripts/image.sh [LAYOUT_DIR]       (default target/image; needs root, or fakeroot)
# Push:  skopeo copy oci:target/image:latest docker://quay.io/<org>/dynatrace-token-provider:<tag>
set -euo pipefail
cd "$(dirname "$0")/.."

layout="${1:-target/image}"
tag=latest

log() { echo "image: $*" >&2; }

# ---- 1. tools ---------------------------------------------------------------------------------
if ! command -v umoci >/dev/null || ! command -v skopeo >/dev/null; then
    log "installing umoci and skopeo (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq umoci skopeo >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null && apt-get install -y -qq umoci skopeo >/dev/null; }
fi
if [[ $(id -u) -ne 0 ]]; then
    log "must run as root (or under fakeroot): the layer's files are owned by root and 65532"
    exit 1
fi

# ---- 2. the binary -----------------------------------------------------------------------------
binary=$(scripts/build-release.sh | tail -n1)

# ---- the Dockerfile's runtime stage ------------------------------------------------------------
# One line per setting, "KIND<TAB>VALUE": user, entrypoint/cmd (JSON), expose, label k=v,
# copy (a library the stage copies from the builder). ${VERSION}/${REVISION} are substituted.
export VERSION="${VERSION:-$(git describe --tags --always)}"
export REVISION="${REVISION:-$(git rev-parse HEAD)}"
runtime_stage() {
    python3 - Dockerfile <<'EOF'
import json, os, re, shlex, sys
lines, buf = [], ""
for line in open(sys.argv[1]).read().splitlines():
    if line.lstrip().startswith("#") or (not buf and not line.strip()):
        continue
    if line.rstrip().endswith("\\"):
        buf += line.rstrip()[:-1] + " "
        continue
    lines.append((buf + line).strip())
    buf = ""
last_from = max(i for i, l in enumerate(lines) if l.upper().startswith("FROM "))
stage = lines[last_from + 1:]  # the runtime stage
sub = lambda s: re.sub(r"\$\{?(VERSION|REVISION)\}?", lambda m: os.environ[m.group(1)], s)
for l in stage:
    ins, _, rest = l.partition(" ")
    ins = ins.upper()
    if ins == "USER":
        print(f"user\t{rest.strip()}")
    elif ins in ("ENTRYPOINT", "CMD"):
        print(f"{ins.lower()}\t{json.dumps(json.loads(rest))}")
    elif ins == "EXPOSE":
        for port in rest.split():
            print(f"expose\t{port if '/' in port else port + '/tcp'}")
    elif ins == "LABEL":
        for kv in shlex.split(rest):
            print(f"label\t{sub(kv)}")
    elif ins == "COPY":
        words = [w for w in shlex.split(rest) if not w.startswith("--")]
        if not words[0].endswith("/dtp"):  # the binary is installed from the build
            print(f"copy\t{words[0]}")
    elif ins not in ("ARG",):
        sys.exit(f"image.sh: unsupported instruction in the runtime stage: {ins}")
EOF
}
settings=$(runtime_stage)
setting() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' <<<"$settings"; }
entrypoint_path=$(setting entrypoint | python3 -c 'import json,sys; print(json.load(sys.stdin)[0])')

# ---- 3. the root filesystem --------------------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
nonroot_uid=65532 # the distroless base's nonroot user; USER in the Dockerfile

install -d -m 0755 "$rootfs"/{etc/ssl/certs,usr/local/bin,home}
install -d -m 1777 "$rootfs/tmp"
install -d -m 0700 -o "$nonroot_uid" -g "$nonroot_uid" "$rootfs/home/nonroot"
install -m 0555 "$binary" "$rootfs$entrypoint_path"

# Shared libraries: what the binary loads (ldd) and what the Dockerfile COPYs (libgcc_s), each
# at the path the dynamic loader looks it up under, as a regular file.
libs=$( { ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'; setting copy; } | sort -u)
for lib in $libs; do
    mode=0644
    [[ $lib == */ld-linux* ]] && mode=0755
    install -D -m "$mode" "$(readlink -f "$lib")" "$rootfs$lib"
done

install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%s:nonroot:/home/nonroot:/sbin/nologin\n' \
    "$nonroot_uid" "$nonroot_uid" >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:%s:\n' "$nonroot_uid" >"$rootfs/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
chmod 0644 "$rootfs"/etc/{passwd,group,nsswitch.conf}

# ---- 4. the OCI layout -------------------------------------------------------------------------
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}"
export SOURCE_DATE_EPOCH
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

find "$rootfs" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$rootfs" && LC_ALL=C tar --create --file "$work/layer.tar" --sort=name --format=posix \
    --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    $(LC_ALL=C ls -A))

rm -rf "$layout"
mkdir -p "$(dirname "$layout")"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci raw add-layer --image "$layout:$tag" --history.created "$created" \
    --history.created_by "scripts/image.sh (the Dockerfile's runtime stage)" "$work/layer.tar"

config=(--no-history --image "$layout:$tag" --created "$created" --os linux --architecture amd64
    --config.user "$(setting user)" --config.workingdir /home/nonroot
    --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    --config.env "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt")
while IFS= read -r arg; do config+=(--config.entrypoint "$arg"); done \
    < <(setting entrypoint | python3 -c 'import json,sys; print(*json.load(sys.stdin), sep="\n")')
while IFS= read -r arg; do config+=(--config.cmd "$arg"); done \
    < <(setting cmd | python3 -c 'import json,sys; print(*json.load(sys.stdin), sep="\n")')
while IFS= read -r port; do config+=(--config.exposedports "$port"); done < <(setting expose)
while IFS= read -r label; do config+=(--config.label "$label"); done < <(setting label)
umoci config "${config[@]}"
umoci gc --layout "$layout"

# ---- 5. digest and size ------------------------------------------------------------------------
python3 - "$layout" "$tag" <<'EOF'
import json, os, sys
layout, tag = sys.argv[1], sys.argv[2]
index = json.load(open(os.path.join(layout, "index.json")))
[desc] = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
manifest = json.load(open(os.path.join(layout, "blobs", *desc["digest"].split(":"))))
size = desc["size"] + manifest["config"]["size"] + sum(l["size"] for l in manifest["layers"])
print(f"image: {layout}:{tag} digest {desc['digest']} size {size / 1e6:.1f} MB "
      f"({len(manifest['layers'])} layer, compressed)")
EOF
