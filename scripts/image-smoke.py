#!/usr/bin/env python3
"""Replays the Dockerfile without a container engine and smoke-tests the image's binary.

There is no container engine on the development and CI machines, so this does what
`docker build` + `docker run` would, step by step, from the Dockerfile itself:

1. Reads the Dockerfile: the builder's RUN must be scripts/build-release.sh; the runtime
   stage gives the binary's path, the libraries copied from the builder, USER, ENTRYPOINT and
   CMD. Base images must be tagged (hadolint cannot see through ARG defaults).
2. Builds the context as Docker would, by applying .dockerignore, and runs the builder's
   command in it (scripts/build-release.sh: the production binary, lockfile, no sandbox),
   reusing ./target for speed (only dtp itself is recompiled).
3. Checks the binary against the runtime image: it is stripped; every shared library it needs
   is in the base image (distroless base-nossl-debian12: glibc 2.36) or copied by the
   Dockerfile; no symbol needs a glibc newer than Debian 12's; the image stays under 40 MB.
4. Assembles the runtime root filesystem (binary at its image path, the libraries, the CA
   bundle, /etc/passwd, /tmp, the example app-interface data at /examples/app-interface),
   every file owned by root, and runs ENTRYPOINT in it with chroot as the Dockerfile's USER
   (65532, which can write nothing but /tmp) and an empty environment:
     --version, <CMD> --help, validate --app-interface-dir /examples/app-interface (exit 0),
     validate on the same data with a broken token spec (exit 2), demo (must not exist: no
     sandbox in the production binary).

Usage: scripts/image-smoke.py [--keep]   (--keep leaves the context and rootfs for a look)
"""
from __future__ import annotations

import argparse
import fnmatch
import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "app-interface"
IMAGE_LIMIT_BYTES = 40 * 1000 * 1000

# What the runtime base images provide (Debian 12 packages, /usr/share/doc etc. excluded; sizes
# from the packages' file lists: libc6 12.0 MiB, tzdata 1.25 MiB, base-files, netbase,
# media-types, the CA bundle 0.21 MiB). Add an entry when the Dockerfile moves to another base.
BASES = {
    "gcr.io/distroless/base-nossl-debian12": {
        "libs": {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
                 "libutil.so.1", "ld-linux-x86-64.so.2", "libresolv.so.2", "libnss_dns.so.2",
                 "libnss_files.so.2"},
        "glibc": (2, 36),
        "bytes": int(13.9 * 1024 * 1024),
        "user": 65532,
    },
}


def fail(msg: str) -> None:
    print(f"image-smoke: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def step(msg: str) -> None:
    print(f"image-smoke: {msg}", flush=True)


# ---- 1. the Dockerfile -----------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    out, buf = [], ""
    for line in path.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def parse_dockerfile(path: Path) -> dict:
    args, stages = {}, []
    for ins, rest in instructions(path):
        if ins == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif ins == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append({"image": image, "name": name, "ins": []})
        elif stages:
            stages[-1]["ins"].append((ins, rest))
    if len(stages) < 2:
        fail("the Dockerfile must have a builder stage and a runtime stage")
    for s in stages:
        if not re.search(r":[\w][\w.-]*$", s["image"].split("@")[0].rsplit("/", 1)[-1]):
            fail(f"base image {s['image']!r} has no tag")
    builder, runtime = stages[0], stages[-1]
    runs = [r for i, r in builder["ins"] if i == "RUN"]
    build = [r for r in runs if "scripts/build-release.sh" in r]
    if len(build) != 1:
        fail("the builder stage must RUN scripts/build-release.sh exactly once (the command CI replays)")
    cmd = build[0]
    cmd = re.sub(r"--mount=\S+\s*", "", cmd).strip()
    argv = shlex.split(cmd)
    if argv[0] != "scripts/build-release.sh" or len(argv) != 2:
        fail(f"the builder must run `scripts/build-release.sh OUT_DIR`, got {cmd!r}")
    out_dir = argv[1]
    copies, user, entrypoint, cmd_ = [], None, None, None
    for ins, rest in runtime["ins"]:
        if ins == "COPY":
            parts = [p for p in shlex.split(rest) if not p.startswith("--chmod") and not p.startswith("--chown")]
            src_from = [p for p in parts if p.startswith("--from=")]
            parts = [p for p in parts if not p.startswith("--")]
            if src_from != [f"--from={builder['name']}"] or len(parts) != 2:
                fail(f"unexpected COPY in the runtime stage: {rest!r}")
            copies.append((parts[0], parts[1]))
        elif ins == "USER":
            user = rest
        elif ins == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif ins == "CMD":
            cmd_ = json.loads(rest)
        elif ins == "RUN":
            fail("the runtime stage has no shell: no RUN")
    if not user or not re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", user):
        fail(f"USER must be a numeric non-root uid[:gid], got {user!r}")
    binary = [dst for src, dst in copies if src == f"{out_dir}/dtp"]
    if len(binary) != 1:
        fail(f"the runtime stage must COPY {out_dir}/dtp from the builder")
    if not entrypoint or entrypoint[0] != binary[0]:
        fail(f"ENTRYPOINT must be the binary {binary[0]} (exec form), got {entrypoint}")
    base = runtime["image"].split("@")[0].rsplit(":", 1)[0]
    if base not in BASES:
        fail(f"unknown runtime base {base!r}: add what it provides to BASES in {__file__}")
    return {
        "out_dir": out_dir,
        "binary": binary[0],
        "libs": [(src, dst) for src, dst in copies if src != f"{out_dir}/dtp"],
        "uid": int(user.split(":")[0]),
        "gid": int(user.split(":")[1]) if ":" in user else int(user.split(":")[0]),
        "entrypoint": entrypoint,
        "cmd": cmd_ or [],
        "base": base,
        "images": [s["image"] for s in stages],
    }


# ---- 2. the build context and the build ------------------------------------------------------


def dockerignore_rules() -> list[tuple[bool, str]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = os.path.normpath(line[1:] if neg else line).lstrip("/")
        rules.append((neg, pat))
    return rules


def ignored(rel: str, rules) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a parent directory
    matches everything under it."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for neg, pat in rules:
        if any(fnmatch.fnmatchcase(p, pat) and p.count("/") == pat.count("/") for p in prefixes):
            result = not neg
    return result


def build_context(dest: Path) -> int:
    rules = dockerignore_rules()
    reincluded = [pat for neg, pat in rules if neg]
    count = 0
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = os.path.relpath(dirpath, ROOT)
        rel_dir = "" if rel_dir == "." else rel_dir
        keep = []
        for d in dirnames:
            rel = f"{rel_dir}/{d}" if rel_dir else d
            if d == ".git" and not rel_dir:
                continue
            if ignored(rel, rules) and not any(p.startswith(rel + "/") for p in reincluded):
                continue
            keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            rel = f"{rel_dir}/{f}" if rel_dir else f
            if not ignored(rel, rules):
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, target)
                count += 1
    return count


# ---- 3. the binary against the runtime image --------------------------------------------------


def readelf(*args: str) -> str:
    return subprocess.run(["readelf", "-W", *args], capture_output=True, text=True, check=True).stdout


def check_binary(path: Path, df: dict) -> None:
    base = BASES[df["base"]]
    sections = readelf("-S", str(path))
    if ".symtab" in sections:
        fail("the release binary is not stripped (Cargo.toml [profile.release] strip = true)")
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf("-d", str(path))))
    copied = {Path(src).name for src, _ in df["libs"]}
    missing = needed - base["libs"] - copied
    if missing:
        fail(f"the binary needs {sorted(missing)}, which {df['base']} does not have and the Dockerfile does not copy")
    versions = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_([0-9.]+)", readelf("--dyn-syms", str(path)))}
    newest = max(versions) if versions else (0,)
    if newest > base["glibc"]:
        fail(f"the binary needs glibc {'.'.join(map(str, newest))}, the runtime has {'.'.join(map(str, base['glibc']))}: build on the same Debian release")
    size = path.stat().st_size
    gz = len(gzip.compress(path.read_bytes(), compresslevel=6))
    libs = sum(Path(src).stat().st_size for src, _ in df["libs"])
    image = base["bytes"] + size + libs
    step(
        f"binary {size / 1e6:.1f} MB ({gz / 1e6:.1f} MB gzipped, as in a layer) (NEEDED {', '.join(sorted(needed))}; glibc >= {'.'.join(map(str, newest))}); "
        f"image ~ {image / 1e6:.1f} MB uncompressed = base {base['bytes'] / 1e6:.1f} + binary + copied libs {libs / 1e6:.2f}"
    )
    if image > IMAGE_LIMIT_BYTES:
        fail(f"the image would be {image / 1e6:.1f} MB, over the {IMAGE_LIMIT_BYTES / 1e6:.0f} MB target")


# ---- 4. the runtime root filesystem and the smoke test ---------------------------------------


def resolve_host_libs(binary: Path) -> dict[str, str]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    libs = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            path = m.group(2) if m.lastindex == 2 else m.group(1)
            libs[Path(path).name] = path
    return libs


def assemble_rootfs(rootfs: Path, binary: Path, df: dict) -> None:
    base = BASES[df["base"]]
    for d in ("etc/ssl/certs", "tmp", "usr/local/bin", "examples", "lib64"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    dest = rootfs / df["binary"].lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, dest)
    dest.chmod(0o555)
    host = resolve_host_libs(binary)
    for name, path in host.items():  # glibc: the base image's, the same Debian 12 build
        if name not in base["libs"]:
            continue
        target = rootfs / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(path), target)
    for src, dst in df["libs"]:  # what the Dockerfile copies from the builder
        target = rootfs / dst.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(src), target)
    shutil.copy2("/etc/ssl/certs/ca-certificates.crt", rootfs / "etc/ssl/certs/ca-certificates.crt")
    uid = base["user"]
    (rootfs / "etc/passwd").write_text(f"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{uid}:{uid}:nonroot:/home/nonroot:/sbin/nologin\n")
    (rootfs / "etc/group").write_text(f"root:x:0:\nnonroot:x:{uid}:\n")
    shutil.copytree(EXAMPLES, rootfs / "examples" / "app-interface")
    # The same data with one broken token spec: validate must reject it (exit 2).
    broken = rootfs / "examples" / "broken"
    shutil.copytree(EXAMPLES, broken)
    (broken / "dynatrace" / "token-specs" / "broken.yml").write_text(
        "---\n$schema: /dynatrace/dynatrace-token-provider-token-spec-1.yml\nname: broken\nsecrets: []\n"
    )
    if os.geteuid() == 0:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            for n in dirnames + filenames:
                os.lchown(os.path.join(dirpath, n), 0, 0)


def run_in_image(rootfs: Path, df: dict, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    argv = df["entrypoint"] + args
    chroot = shutil.which("chroot")
    if os.geteuid() == 0 and chroot:
        full = [chroot, f"--userspec={df['uid']}:{df['gid']}", str(rootfs), *argv]
    else:
        step("not root: running the binary on the host instead of in the assembled root filesystem")
        full = [str(rootfs / argv[0].lstrip("/")), *argv[1:]]
        args = [a.replace("/examples/", str(rootfs / "examples") + "/") for a in args]
        full = [full[0], *args]
    return subprocess.run(full, env={"PATH": "/usr/local/bin", **env}, capture_output=True, text=True, timeout=120)


def expect(proc: subprocess.CompletedProcess, what: str, code: int = 0, contains: str | None = None) -> None:
    output = proc.stdout + proc.stderr
    if proc.returncode != code or (contains and contains not in output):
        fail(f"{what}: exit {proc.returncode} (expected {code}{', output with ' + repr(contains) if contains else ''}):\n{output}")
    first = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    step(f"ok  {what}: exit {proc.returncode}: {first[0] if first else ''}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the build context and the rootfs")
    opts = parser.parse_args()

    df = parse_dockerfile(ROOT / "Dockerfile")
    step(f"Dockerfile: {' -> '.join(df['images'])}; builder runs scripts/build-release.sh {df['out_dir']}; "
         f"runtime USER {df['uid']}:{df['gid']}, ENTRYPOINT {df['entrypoint']}, CMD {df['cmd']}")
    work = Path(tempfile.mkdtemp(prefix="dtp-image-"))
    try:
        context = work / "context"
        n = build_context(context)
        step(f"build context (.dockerignore applied): {n} files")
        env = dict(os.environ, CARGO_TARGET_DIR=str(ROOT / "target"))
        start = time.monotonic()
        out = work / df["out_dir"].lstrip("/")
        proc = subprocess.run(["scripts/build-release.sh", str(out)], cwd=context, env=env, text=True,
                              stdout=subprocess.PIPE)
        if proc.returncode != 0:
            fail("scripts/build-release.sh failed in the build context (a file the build needs may be missing from .dockerignore's allow-list)")
        binary = Path(proc.stdout.strip().splitlines()[-1])
        step(f"built {binary.name} in {time.monotonic() - start:.0f}s (the builder stage's command, in the Docker build context)")
        check_binary(binary, df)

        rootfs = work / "rootfs"
        assemble_rootfs(rootfs, binary, df)
        version = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "Cargo.toml").read_text(), flags=re.M).group(1)
        expect(run_in_image(rootfs, df, ["--version"], {}), "dtp --version", 0, f"dtp {version}")
        expect(run_in_image(rootfs, df, df["cmd"] + ["--help"], {}), f"dtp {' '.join(df['cmd'])} --help (the image's CMD)", 0)
        expect(run_in_image(rootfs, df, ["validate", "--app-interface-dir", "/examples/app-interface"], {"LOG_FORMAT": "json"}),
               "dtp validate --app-interface-dir /examples/app-interface", 0, "app-interface data is valid")
        expect(run_in_image(rootfs, df, ["validate", "--app-interface-dir", "/examples/broken"], {}),
               "dtp validate on data with a broken token spec", 2, "broken.yml")
        expect(run_in_image(rootfs, df, ["demo"], {}), "dtp demo (no sandbox in the production binary)", 2, "unrecognized subcommand")
        step("the image's binary passes the smoke test")
    finally:
        if opts.keep:
            step(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
