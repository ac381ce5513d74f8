#!/usr/bin/env python3
"""Checks the OCI image that scripts/image.sh wrote to target/image (tag latest).

1. The image config (read with `skopeo inspect --config`) matches what the Dockerfile's
   runtime stage declares: USER, ENTRYPOINT, CMD, EXPOSE, every LABEL (with VERSION and
   REVISION as image.sh sets them), WORKDIR (or the distroless nonroot base's /home/nonroot
   when the Dockerfile sets none). Any difference fails, naming the field, both values.
2. Unpacks the image with `umoci unpack` and runs its ENTRYPOINT inside the unpacked root
   filesystem (chroot) as the Dockerfile's USER with only the image's Env:
     --version; validate --app-interface-dir on examples/app-interface (copied into the
     rootfs, exit 0); validate on a copy only root may read (must fail: the process is not
     root).
3. Builds the image a second time (scripts/image.sh into a temporary layout) and requires the
   same manifest digest: the build is reproducible.
4. Prints the digest and the size (sum of the blobs: manifest, config, layers).

Needs root (umoci unpack keeps the layer's owners; chroot). Usage: scripts/check-image.py [LAYOUT]
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAG = "latest"
SIZE_LIMIT_MB = 30
# What the runtime base (gcr.io/distroless/base-nossl-debian12:nonroot) sets and the Dockerfile
# inherits; image.sh writes the same.
BASE_WORKDIR = "/home/nonroot"


def fail(msg: str) -> None:
    print(f"check-image: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def step(msg: str) -> None:
    print(f"check-image: {msg}", flush=True)


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, **kw)


# ---- 1. the Dockerfile against the image config ------------------------------------------------


def runtime_stage(dockerfile: Path) -> list[tuple[str, str]]:
    """The last stage's instructions, (INSTRUCTION, arguments), continuations joined."""
    stages: list[list[tuple[str, str]]] = []
    buf = ""
    for line in dockerfile.read_text().splitlines():
        if line.lstrip().startswith("#") or (not buf and not line.strip()):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        word, _, rest = (buf + line).strip().partition(" ")
        buf = ""
        if word.upper() == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append((word.upper(), rest.strip()))
    if not stages:
        fail("no FROM in the Dockerfile")
    return stages[-1]


def git(*args: str) -> str:
    return run(["git", *args], cwd=ROOT, check=True).stdout.strip()


def expected_config() -> dict:
    args = {
        "VERSION": os.environ.get("VERSION") or git("describe", "--tags", "--always"),
        "REVISION": os.environ.get("REVISION") or git("rev-parse", "HEAD"),
    }
    sub = lambda s: re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), s)
    want = {"User": None, "Entrypoint": None, "Cmd": None, "ExposedPorts": [], "Labels": {},
            "WorkingDir": BASE_WORKDIR}
    for ins, rest in runtime_stage(ROOT / "Dockerfile"):
        if ins == "USER":
            want["User"] = rest
        elif ins == "ENTRYPOINT":
            want["Entrypoint"] = json.loads(rest)
        elif ins == "CMD":
            want["Cmd"] = json.loads(rest)
        elif ins == "WORKDIR":
            want["WorkingDir"] = rest
        elif ins == "EXPOSE":
            want["ExposedPorts"] += [p if "/" in p else f"{p}/tcp" for p in rest.split()]
        elif ins == "LABEL":
            for kv in shlex.split(rest):
                key, _, value = kv.partition("=")
                want["Labels"][key] = sub(value)
    want["ExposedPorts"] = sorted(want["ExposedPorts"])
    return want


def check_config(layout: Path) -> dict:
    proc = run(["skopeo", "inspect", "--config", f"oci:{layout}:{TAG}"])
    if proc.returncode != 0:
        fail(f"skopeo inspect --config oci:{layout}:{TAG}: {proc.stderr.strip()}")
    config = json.loads(proc.stdout).get("config", {})
    got = {
        "User": config.get("User"),
        "Entrypoint": config.get("Entrypoint"),
        "Cmd": config.get("Cmd"),
        "ExposedPorts": sorted(config.get("ExposedPorts") or {}),
        "Labels": config.get("Labels") or {},
        "WorkingDir": config.get("WorkingDir"),
    }
    want = expected_config()
    diffs = []
    for field in want:
        if field == "Labels":
            for key in sorted(set(want["Labels"]) | set(got["Labels"])):
                w, g = want["Labels"].get(key), got["Labels"].get(key)
                if w != g:
                    diffs.append(f"LABEL {key}: Dockerfile {w!r}, image {g!r}")
        elif want[field] != got[field]:
            diffs.append(f"{field}: Dockerfile {want[field]!r}, image {got[field]!r}")
    if diffs:
        fail("the image config differs from the Dockerfile's runtime stage:\n  " + "\n  ".join(diffs))
    step(f"config matches the Dockerfile: USER {got['User']}, ENTRYPOINT {got['Entrypoint']}, "
         f"CMD {got['Cmd']}, EXPOSE {got['ExposedPorts']}, WORKDIR {got['WorkingDir']}, "
         f"{len(got['Labels'])} labels")
    return {"want": want, "env": config.get("Env") or []}


# ---- 2. the binary in the unpacked image -------------------------------------------------------


def in_image(rootfs: Path, user: str, env: list[str], argv: list[str]) -> subprocess.CompletedProcess:
    """Like `docker run --user USER image ARGV`: chroot into the rootfs, drop to USER, only the
    image's Env (env -i is the host's, the binary is the image's)."""
    return run(["env", "-i", *env, "chroot", f"--userspec={user}", str(rootfs), *argv], timeout=120)


def expect(proc: subprocess.CompletedProcess, what: str, ok: bool, detail: str = "") -> None:
    out = (proc.stdout + proc.stderr).strip()
    if not ok:
        fail(f"{what}: exit {proc.returncode}{' ' + detail if detail else ''}:\n{out}")
    step(f"ok  {what}: exit {proc.returncode}: {out.splitlines()[0] if out else ''}")


def check_run(layout: Path, cfg: dict, work: Path) -> str:
    bundle = work / "bundle"
    proc = run(["umoci", "unpack", "--image", f"{layout}:{TAG}", str(bundle)])
    if proc.returncode != 0:
        fail(f"umoci unpack: {proc.stderr.strip()}")
    rootfs = bundle / "rootfs"
    user, entry = cfg["want"]["User"], cfg["want"]["Entrypoint"]
    # Data is not part of the image: copied in, owned by root, readable by everyone.
    examples = rootfs / "examples" / "app-interface"
    shutil.copytree(ROOT / "examples" / "app-interface", examples)
    private = rootfs / "examples" / "root-only"
    shutil.copytree(ROOT / "examples" / "app-interface", private)
    private.chmod(0o700)

    # The uid the binary runs as: chroot --userspec drops to it before exec; /etc/passwd in
    # the image must name it.
    uid = user.split(":")[0]
    passwd = {l.split(":")[2]: l.split(":")[0] for l in (rootfs / "etc/passwd").read_text().splitlines()}
    if uid not in passwd:
        fail(f"USER {user}: uid {uid} is not in the image's /etc/passwd")
    step(f"running {entry[0]} in the unpacked image as uid:gid {user} ({passwd[uid]}), env {cfg['env']}")

    version = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
    p = in_image(rootfs, user, cfg["env"], [*entry, "--version"])
    expect(p, "dtp --version", p.returncode == 0 and f"dtp {version}" in p.stdout)
    p = in_image(rootfs, user, cfg["env"], [*entry, "validate", "--app-interface-dir", "/examples/app-interface"])
    expect(p, "dtp validate --app-interface-dir /examples/app-interface", p.returncode == 0)
    p = in_image(rootfs, user, cfg["env"], [*entry, "validate", "--app-interface-dir", "/examples/root-only"])
    expect(p, "dtp validate on a directory only root can read (the process is not root)",
           p.returncode != 0, "(expected a failure: it read a 0700 root directory, so it ran as root)")
    return sha256(rootfs / entry[0].lstrip("/"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- 3./4. reproducibility and size ------------------------------------------------------------


def manifest(layout: Path) -> tuple[str, dict, int]:
    index = json.loads((layout / "index.json").read_text())
    descs = [m for m in index["manifests"]
             if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == TAG]
    if len(descs) != 1:
        fail(f"{layout}/index.json has no single tag {TAG!r}")
    digest = descs[0]["digest"]
    body = json.loads((layout / "blobs" / Path(*digest.split(":"))).read_text())
    size = descs[0]["size"] + body["config"]["size"] + sum(l["size"] for l in body["layers"])
    return digest, body, size


def check_reproducible(layout: Path, work: Path, binary_sha: str) -> None:
    first, body1, _ = manifest(layout)
    again = work / "image-again"
    step("building the image a second time (scripts/image.sh) to compare digests")
    proc = subprocess.run([str(ROOT / "scripts" / "image.sh"), str(again)], cwd=ROOT)
    if proc.returncode != 0:
        fail("the second scripts/image.sh failed")
    second, body2, _ = manifest(again)
    if first != second and sha256(ROOT / "target" / "release" / "dtp") != binary_sha:
        fail(f"not reproducible: {first} then {second}, because the binary differs: the sources "
             "changed between the two builds (someone edited them meanwhile?); run again")
    if first != second:
        parts = [f"{what} {a} vs {b}" for what, a, b in
                 [("config", body1["config"]["digest"], body2["config"]["digest"]),
                  ("layer", [l["digest"] for l in body1["layers"]], [l["digest"] for l in body2["layers"]])]
                 if a != b]
        fail(f"not reproducible: {first} then {second} ({'; '.join(parts)}), with the same binary")
    step(f"reproducible: both builds give {first}")


def main() -> int:
    layout = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "target" / "image")
    if not (layout / "index.json").exists():
        fail(f"no OCI layout at {layout}: run scripts/image.sh first")
    if os.geteuid() != 0:
        fail("needs root (umoci unpack with the layer's owners, chroot)")
    cfg = check_config(layout)
    work = Path(tempfile.mkdtemp(prefix="dtp-check-image-"))
    try:
        binary_sha = check_run(layout, cfg, work)
        check_reproducible(layout, work, binary_sha)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    digest, body, size = manifest(layout)
    mb = size / 1e6
    step(f"{layout}:{TAG} {digest}, {mb:.1f} MB ({len(body['layers'])} compressed layer(s) + config + manifest)")
    if mb >= SIZE_LIMIT_MB:
        fail(f"the image is {mb:.1f} MB, the target is under {SIZE_LIMIT_MB} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
