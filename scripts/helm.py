#!/usr/bin/env python3
"""The dtp Helm chart, offline: lint, render, validate, and generate the OpenShift Templates.

There is no `helm` binary here; this drives the Helm v4 Go SDK through the pinned PyPI package
helm-python-sdk (libhelm_c + ctypes): `helm lint --strict`, `helm template` and values.schema.json
validation are Helm's own code. The tools are pinned in scripts/deploy-tools/ and installed into
.tools/ by scripts/deploy-tools.sh, which this script runs (and re-executes itself under) when
needed.

    scripts/helm.py render [-f VALUES]... [--set K=V]... [--name N] [--namespace NS]
        Print the manifests, like `helm template` (e.g. to `oc apply -f -`).
    scripts/helm.py lint
        `helm lint --strict` with the default values and every helm/.../ci/*-values.yaml.
    scripts/helm.py generate [--check]
        Render openshift/<name>.yaml from openshift/values/<name>.yaml (OpenShift Templates).
        --check: fail, with a diff, if a checked-in Template is not what the chart renders.
    scripts/helm.py check
        Everything CI checks: lint; render each ci/*-values.yaml case; validate every object
        (core kinds strictly against the Kubernetes 1.27 and 1.37 schemas; ServiceMonitor and
        PrometheusRule against prometheus-operator's API models, alert expressions with a PromQL
        parser, the metrics they read against those dtp registers in src/); the chart's security
        and run-mode invariants; the expected kinds of each case;
        each ci/invalid/*.yaml is rejected with its expected message; the Templates are
        processed like `oc process` and checked the same way, and are up to date; appVersion
        equals the crate version.
"""
from __future__ import annotations

import argparse
import difflib
import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "dynatrace-token-provider"
CASES = CHART / "ci"
INVALID = CASES / "invalid"
OPENSHIFT = ROOT / "openshift"
TEMPLATE_VALUES = OPENSHIFT / "values"
VENV = ROOT / ".tools" / "deploy-venv"
NODE_MODULES = ROOT / ".tools" / "deploy-node" / "node_modules"
RELEASE = "dynatrace-token-provider"
NAMESPACE = "dtp"
# Oldest supported (OpenShift 4.14) and newest schemas of kubernetes-validate.
KUBE_VERSIONS = ("1.27", "1.37")
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
TEMPLATE_KIND = ("template.openshift.io/v1", "Template")


def ensure_tools() -> None:
    """Installs the pinned tools and re-executes under the tools' Python when needed."""
    subprocess.run([str(ROOT / "scripts" / "deploy-tools.sh")], check=True)
    venv_python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() != VENV.resolve():
        os.execv(str(venv_python), [str(venv_python), __file__, *sys.argv[1:]])


ensure_tools()

import helm_python as helm  # noqa: E402
import kubernetes_validate  # noqa: E402
import kubernetes_validate.utils as kv_utils  # noqa: E402
import promql_parser  # noqa: E402
import yaml  # noqa: E402

# kubernetes-validate reads and parses the (large) schema files for every object; cache them.
kv_utils.schema_contents = functools.lru_cache(maxsize=None)(kv_utils.schema_contents)


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def __bool__(self) -> bool:
        return bool(self.items)


# ---- rendering -------------------------------------------------------------------------------


def load_values(path: Path) -> dict:
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: values must be a mapping")
    return data


def deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def render(values: dict, name: str = RELEASE, namespace: str = NAMESPACE) -> dict[str, str]:
    """Helm's render: values.schema.json validation, then the templates. Raises HelmError."""
    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(values, name=name, namespace=namespace, is_install=True)


def documents(rendered: dict[str, str]) -> list[dict]:
    docs = []
    for source in sorted(rendered):
        if source.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(rendered[source]):
            if doc is not None:
                docs.append(doc)
    return docs


def manifests_text(rendered: dict[str, str]) -> str:
    out = []
    for source in sorted(rendered):
        text = rendered[source].strip()
        if not text or source.endswith("NOTES.txt"):
            continue
        for doc in re.split(r"^---\s*$", text, flags=re.M):
            doc = doc.strip()
            if doc:
                out.append(f"---\n# Source: {source}\n{doc}\n")
    return "".join(out)


# ---- validation ------------------------------------------------------------------------------


def obj_id(obj: dict) -> str:
    return f"{obj.get('kind', '?')}/{(obj.get('metadata') or {}).get('name', '?')}"


def validate_core(obj: dict, where: str, failures: Failures) -> None:
    for version in KUBE_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            failures.add(where, f"{obj_id(obj)} is invalid for Kubernetes {version} (strict): {path}: {e.message}")
        except kv_utils.SchemaNotFoundError as e:
            failures.add(where, f"{obj_id(obj)}: {e.message} (and it is not a known CRD)")


DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


@functools.lru_cache(maxsize=None)
def exported_metric_names() -> frozenset[str]:
    """Metric names dtp registers: string literals of src/ that look like metric names. A
    counter `x` is exposed as `x_total`, a histogram as `x_bucket`/`x_sum`/`x_count`."""
    names = set()
    for path in (ROOT / "src").rglob("*.rs"):
        for lit in re.findall(r'"((?:dtp|qontract_reconcile)_[a-z0-9_]+)"', path.read_text()):
            names |= {lit, f"{lit}_total", f"{lit}_bucket", f"{lit}_sum", f"{lit}_count"}
    return frozenset(names)


def check_metric_names(expr: str, where: str, failures: Failures) -> None:
    """Every dtp_*/qontract_reconcile_* series an alert reads must be one dtp exports."""
    for name in set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", expr)):
        if name.startswith(("dtp_", "qontract_reconcile_")) and name not in exported_metric_names():
            failures.add(where, f"alert reads {name}, which dtp does not export (src/ registers no such metric)")


def validate_rules(obj: dict, where: str, failures: Failures) -> None:
    """PromQL syntax of every rule, durations, and string-only labels/annotations."""
    for group in obj.get("spec", {}).get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record") or "?"
            try:
                promql_parser.parse(rule.get("expr", ""))
            except Exception as e:  # the parser raises ValueError with the position
                failures.add(where, f"{obj_id(obj)} rule {name}: expr does not parse: {e}: {rule.get('expr')!r}")
            check_metric_names(rule.get("expr", ""), f"{where} {obj_id(obj)} rule {name}", failures)
            if "for" in rule and not DURATION.match(str(rule["for"])):
                failures.add(where, f"{obj_id(obj)} rule {name}: for {rule['for']!r} is not a duration")
            for key in ("labels", "annotations"):
                for k, v in (rule.get(key) or {}).items():
                    if not isinstance(v, str):
                        failures.add(where, f"{obj_id(obj)} rule {name}: {key}.{k} must be a string, got {v!r}")


def validate_crds(objs: list[tuple[str, dict]], failures: Failures) -> None:
    if not objs:
        return
    proc = subprocess.run(
        ["node", str(ROOT / "scripts" / "deploy-tools" / "validate-crds.mjs"), str(NODE_MODULES)],
        input=json.dumps([o for _, o in objs]),
        capture_output=True,
        text=True,
    )
    if proc.returncode not in (0, 1):
        failures.add("validate-crds.mjs", proc.stderr.strip() or f"exit {proc.returncode}")
    for line in proc.stdout.splitlines():
        failures.add("prometheus-operator model", line)
    for where, obj in objs:
        if obj.get("kind") == "PrometheusRule":
            validate_rules(obj, where, failures)


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def pod_spec(obj: dict) -> dict | None:
    if obj.get("kind") == "Deployment":
        return obj["spec"]["template"]["spec"]
    if obj.get("kind") == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def check_invariants(objs: list[dict], where: str, failures: Failures) -> None:
    """What the chart promises whatever the values: security, run mode, sharding."""
    workloads = [o for o in objs if pod_spec(o) is not None]
    if not workloads:
        failures.add(where, "no Deployment or CronJob rendered")
        return
    kinds = {o["kind"] for o in workloads}
    if len(kinds) != 1:
        failures.add(where, f"both Deployments and CronJobs rendered: {sorted(kinds)}")
    shard_ids, shard_counts = [], set()
    for w in workloads:
        wid = f"{where} {obj_id(w)}"
        spec = pod_spec(w)
        if spec.get("automountServiceAccountToken") is not False:
            failures.add(wid, "automountServiceAccountToken must be false")
        psc = spec.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            failures.add(wid, "pod securityContext.runAsNonRoot must be true")
        if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            failures.add(wid, "pod seccompProfile must be RuntimeDefault")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec.get("containers", []):
            sc = c.get("securityContext") or {}
            if sc.get("readOnlyRootFilesystem") is not True:
                failures.add(wid, f"container {c['name']}: readOnlyRootFilesystem must be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                failures.add(wid, f"container {c['name']}: allowPrivilegeEscalation must be false")
            if sc.get("runAsNonRoot") is not True:
                failures.add(wid, f"container {c['name']}: runAsNonRoot must be true")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                failures.add(wid, f"container {c['name']}: capabilities must drop ALL")
            if sc.get("capabilities", {}).get("add"):
                failures.add(wid, f"container {c['name']}: no capability may be added")
        dtp = next((c for c in spec.get("containers", []) if c["name"] == "dtp"), None)
        if dtp is None:
            failures.add(wid, "no container named dtp")
            continue
        if dtp.get("args") != ["run"]:
            failures.add(wid, f"dtp args must be [run], got {dtp.get('args')}")
        env = env_of(dtp)
        mounts = {m["mountPath"].rstrip("/"): m for m in dtp.get("volumeMounts", [])}

        def mounted(path: str) -> dict | None:
            for mp, m in mounts.items():
                if path.startswith(mp + "/"):
                    return volumes.get(m["name"])
            return None

        for required in ("QONTRACT_CONFIG", "DRY_RUN", "SHARDS", "SHARD_ID", "LOG_FORMAT", "LOG_LEVEL"):
            if required not in env:
                failures.add(wid, f"env {required} missing")
        cfg = env.get("QONTRACT_CONFIG", {}).get("value", "")
        vol = mounted(cfg)
        if not vol or "secret" not in vol:
            failures.add(wid, f"QONTRACT_CONFIG {cfg!r} is not inside a mounted Secret")
        if "/tmp" not in mounts or "emptyDir" not in (volumes.get(mounts["/tmp"]["name"]) or {}):
            failures.add(wid, "/tmp must be an emptyDir")
        if "KUBE_SA_TOKEN_PATH" in env:
            vol = mounted(env["KUBE_SA_TOKEN_PATH"]["value"]) or {}
            sources = (vol.get("projected") or {}).get("sources", [])
            sat = next((s["serviceAccountToken"] for s in sources if "serviceAccountToken" in s), None)
            if not sat or not sat.get("audience") or not sat.get("expirationSeconds"):
                failures.add(wid, "KUBE_SA_TOKEN_PATH must point at a projected serviceAccountToken with audience and expirationSeconds")
        if "DTP_CA_BUNDLE" in env and not mounted(env["DTP_CA_BUNDLE"]["value"]):
            failures.add(wid, "DTP_CA_BUNDLE is not inside a mounted volume")
        if w["kind"] == "CronJob":
            if w["spec"].get("concurrencyPolicy") != "Forbid":
                failures.add(wid, "concurrencyPolicy must be Forbid")
            if env.get("RUN_ONCE", {}).get("value") != "true" or "SLEEP_DURATION_SECS" in env:
                failures.add(wid, "a CronJob runs once: RUN_ONCE=true and no SLEEP_DURATION_SECS")
            if spec.get("restartPolicy") not in ("Never", "OnFailure"):
                failures.add(wid, "restartPolicy must be Never or OnFailure")
        else:
            if (w["spec"].get("strategy") or {}).get("type") != "Recreate":
                failures.add(wid, "Deployment strategy must be Recreate (never two pods of one shard)")
            replicas = w["spec"].get("replicas")
            if not (replicas in (0, 1) or replicas == "${{REPLICAS}}"):
                failures.add(wid, f"replicas must be 0 or 1, got {replicas!r}")
            if "RUN_ONCE" in env or "SLEEP_DURATION_SECS" not in env:
                failures.add(wid, "a Deployment loops: SLEEP_DURATION_SECS and no RUN_ONCE")
            for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                if (dtp.get(probe) or {}).get("httpGet", {}).get("path") != path:
                    failures.add(wid, f"{probe} must be an HTTP GET on {path}")
        try:
            shard_ids.append(int(env["SHARD_ID"]["value"]))
            shard_counts.add(int(env["SHARDS"]["value"]))
        except (KeyError, ValueError):
            failures.add(wid, "SHARDS and SHARD_ID must be integers")
    if len(shard_counts) == 1:
        (n,) = shard_counts
        if sorted(shard_ids) != list(range(n)) or len(workloads) != n:
            failures.add(where, f"{n} shard(s) need one workload per SHARD_ID 0..{n - 1}, got {sorted(shard_ids)}")
    elif shard_counts:
        failures.add(where, f"workloads disagree on SHARDS: {sorted(shard_counts)}")
    names = [obj_id(o) for o in objs]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        failures.add(where, f"duplicate objects: {sorted(dupes)}")
    selectors = [json.dumps(w["spec"].get("selector"), sort_keys=True) for w in workloads if w["kind"] == "Deployment"]
    if len(set(selectors)) != len(selectors):
        failures.add(where, "Deployments of different shards share a selector")


def validate_objects(objs: list[dict], where: str, failures: Failures) -> None:
    crds = []
    for obj in objs:
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key in CRD_KINDS:
            crds.append((where, obj))
        elif key == TEMPLATE_KIND:
            failures.add(where, f"{obj_id(obj)}: a Template among plain manifests")
        else:
            validate_core(obj, where, failures)
    validate_crds(crds, failures)
    check_invariants(objs, where, failures)


# ---- OpenShift Templates ---------------------------------------------------------------------

# The Template kind (template.openshift.io/v1), strict: kubernetes-validate has no OpenShift
# schemas. Field names from OpenShift's API (Template, Parameter).
TEMPLATE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "objects", "parameters"],
    "properties": {
        "apiVersion": {"const": "template.openshift.io/v1"},
        "kind": {"const": "Template"},
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "message": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "objects": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["apiVersion", "kind", "metadata"]}},
        "parameters": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
                    "displayName": {"type": "string"},
                    "description": {"type": "string"},
                    "value": {"type": "string"},
                    "required": {"type": "boolean"},
                    "generate": {"const": "expression"},
                    "from": {"type": "string"},
                },
            },
        },
    },
}

PLACEHOLDER = re.compile(r"\$\{(\{)?([A-Za-z_][A-Za-z0-9_]*)\}?\}")


def placeholders(node) -> set[str]:
    found = set()
    if isinstance(node, dict):
        for v in node.values():
            found |= placeholders(v)
    elif isinstance(node, list):
        for v in node:
            found |= placeholders(v)
    elif isinstance(node, str):
        found |= {m.group(2) for m in PLACEHOLDER.finditer(node)}
    return found


def process(node, params: dict[str, str]):
    """`oc process`: ${{NAME}} as a whole value becomes the parameter's YAML value (typed);
    ${NAME} anywhere in a string is replaced by the text."""
    if isinstance(node, dict):
        return {k: process(v, params) for k, v in node.items()}
    if isinstance(node, list):
        return [process(v, params) for v in node]
    if isinstance(node, str):
        whole = re.fullmatch(r"\$\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}", node)
        if whole:
            return yaml.safe_load(params[whole.group(1)])
        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: params[m.group(1)], node)
    return node


def check_template(tmpl: dict, where: str, all_failures: Failures) -> None:
    import jsonschema

    failures = Failures()
    try:
        _check_template(tmpl, where, failures, jsonschema)
    finally:
        all_failures.items += failures.items


def _check_template(tmpl: dict, where: str, failures: Failures, jsonschema) -> None:
    errors = sorted(jsonschema.Draft7Validator(TEMPLATE_SCHEMA).iter_errors(tmpl), key=lambda e: list(e.path))
    for e in errors:
        failures.add(where, f"Template: {'.'.join(str(p) for p in e.path)}: {e.message}")
    if errors:
        return
    declared = {p["name"]: p for p in tmpl["parameters"]}
    used = placeholders(tmpl["objects"])
    for name in sorted(used - declared.keys()):
        failures.add(where, f"${{{name}}} is used but not a parameter")
    for name in sorted(declared.keys() - used):
        failures.add(where, f"parameter {name} is declared but not used")
    workload_kinds = {o["kind"] for o in tmpl["objects"]} & {"Deployment", "CronJob"}
    expected = {"IMAGE", "IMAGE_TAG", "IMAGE_DIGEST", "DRY_RUN", "CONFIG_SECRET_NAME", "LOG_LEVEL"}
    expected |= {"SLEEP_DURATION_SECS", "REPLICAS"} if "Deployment" in workload_kinds else {"CRON_SCHEDULE"}
    for name in sorted(expected - declared.keys()):
        failures.add(where, f"parameter {name} is missing")
    for name, p in declared.items():
        if "value" not in p and not p.get("required"):
            failures.add(where, f"parameter {name} has neither a default value nor required: true")
    quantity = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
    for name in ("CPU_REQUEST", "MEMORY_REQUEST", "MEMORY_LIMIT"):
        if name in declared and not quantity.match(declared[name].get("value", "")):
            failures.add(where, f"parameter {name}: {declared[name].get('value')!r} is not a Kubernetes quantity")
    if failures:
        return
    params = {n: p.get("value", "") for n, p in declared.items()}
    objs = process(tmpl["objects"], params)
    validate_objects(objs, f"{where} (processed with the defaults)", failures)
    # Processing with other values must still give valid objects.
    other = dict(params, DRY_RUN="false", LOG_LEVEL="debug", IMAGE_TAG="0123abc",
                 IMAGE_DIGEST="@sha256:" + "0" * 64)
    if "REPLICAS" in other:
        other["REPLICAS"] = "0"
    for obj in process(tmpl["objects"], other):
        if (obj.get("apiVersion"), obj.get("kind")) not in CRD_KINDS:
            validate_core(obj, f"{where} (processed with REPLICAS=0, DRY_RUN=false)", failures)


def template_header(values_file: Path) -> str:
    rel = values_file.relative_to(ROOT)
    return (
        f"# Generated by `make generate` from helm/dynatrace-token-provider with {rel}.\n"
        "# Do not edit: change the chart or the values file, then run `make generate`.\n"
    )


def generate_one(values_file: Path) -> str:
    values = deep_merge(load_values(values_file), {"openshiftTemplate": {"enabled": True, "name": values_file.stem}})
    rendered = render(values)
    body = rendered[f"{CHART.name}/templates/openshift-template.yaml"].strip()
    return template_header(values_file) + body + "\n"


def template_files() -> list[tuple[Path, Path]]:
    pairs = [(v, OPENSHIFT / v.name) for v in sorted(TEMPLATE_VALUES.glob("*.yaml"))]
    if not pairs:
        raise SystemExit(f"no values files in {TEMPLATE_VALUES}")
    return pairs


def cmd_generate(check: bool) -> int:
    failures = Failures()
    expected_outputs = set()
    for values_file, out in template_files():
        expected_outputs.add(out)
        text = generate_one(values_file)
        if check:
            current = out.read_text() if out.exists() else ""
            if current != text:
                diff = "".join(difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(out.relative_to(ROOT)), "rendered from the chart"))
                failures.add(str(out.relative_to(ROOT)), "out of date; run `make generate` and commit it:\n" + diff)
        else:
            out.write_text(text)
            print(f"wrote {out.relative_to(ROOT)}")
    for stray in sorted(set(OPENSHIFT.glob("*.yaml")) - expected_outputs):
        failures.add(str(stray.relative_to(ROOT)), f"no openshift/values/{stray.name} generates it; delete it or add the values file")
    return report(failures, "openshift templates are up to date" if check else None)


# ---- commands --------------------------------------------------------------------------------


def report(failures: Failures, ok: str | None) -> int:
    if failures:
        for f in failures.items:
            print(f"FAIL {f}", file=sys.stderr)
        print(f"{len(failures.items)} problem(s)", file=sys.stderr)
        return 1
    if ok:
        print(ok)
    return 0


def case_files() -> list[Path]:
    return sorted(CASES.glob("*-values.yaml"))


def lint_one(values: dict | None, where: str, failures: Failures) -> None:
    result = helm.lint(str(CHART), values, strict=True, kube_version=f"v{KUBE_VERSIONS[0]}.0")
    for m in result.get("messages", []):
        if m["severity"] >= 2:  # warnings are errors (--strict); infos are printed only
            failures.add(where, f"helm lint: {m['path']}: {m['error'].strip()}")
    for e in result.get("errors", []):
        failures.add(where, f"helm lint: {e.strip()}")


def cmd_lint() -> int:
    failures = Failures()
    lint_one(None, "default values", failures)
    for case in case_files():
        lint_one(load_values(case), str(case.relative_to(ROOT)), failures)
    return report(failures, f"helm lint --strict: default values and {len(case_files())} case(s) clean")


def expected_kinds(path: Path) -> dict[str, int] | None:
    m = re.search(r"^#\s*expect:\s*(.+)$", path.read_text(), flags=re.M)
    if not m:
        return None
    out = {}
    for item in m.group(1).split():
        kind, _, count = item.partition("=")
        out[kind] = int(count)
    return out


def expected_error(path: Path) -> str | None:
    m = re.search(r"^#\s*error:\s*(.+)$", path.read_text(), flags=re.M)
    return m.group(1).strip() if m else None


def check_cargo_version(failures: Failures) -> None:
    cargo = (ROOT / "Cargo.toml").read_text()
    m = re.search(r'^\[package\][^\[]*?^version\s*=\s*"([^"]+)"', cargo, flags=re.M | re.S)
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    if not m:
        failures.add("Cargo.toml", "no [package] version")
    elif str(chart.get("appVersion")) != m.group(1):
        failures.add("Chart.yaml", f"appVersion {chart.get('appVersion')!r} differs from the crate version {m.group(1)!r}")


def cmd_check() -> int:
    failures = Failures()
    check_cargo_version(failures)
    lint_one(None, "default values", failures)
    cases = case_files()
    for case in cases:
        where = str(case.relative_to(ROOT))
        values = load_values(case)
        lint_one(values, where, failures)
        try:
            objs = documents(render(values))
        except helm.HelmError as e:
            failures.add(where, f"render failed: {e}")
            continue
        validate_objects(objs, where, failures)
        want = expected_kinds(case)
        if want is None:
            failures.add(where, "no `# expect: Kind=N ...` line")
        else:
            got: dict[str, int] = {}
            for o in objs:
                got[o["kind"]] = got.get(o["kind"], 0) + 1
            if got != want:
                failures.add(where, f"rendered kinds {got}, expected {want}")
        print(f"ok  {where}: {len(objs)} object(s)")
    invalid = sorted(INVALID.glob("*.yaml"))
    for case in invalid:
        where = str(case.relative_to(ROOT))
        want = expected_error(case)
        if not want:
            failures.add(where, "no `# error: <message>` line")
            continue
        try:
            render(load_values(case))
            failures.add(where, f"accepted, but must be rejected with {want!r}")
        except helm.HelmError as e:
            if want not in str(e):
                failures.add(where, f"rejected with {str(e)!r}, expected a message containing {want!r}")
            else:
                print(f"ok  {where}: rejected ({want})")
    for values_file, out in template_files():
        where = str(out.relative_to(ROOT))
        text = generate_one(values_file)
        check_template(yaml.safe_load(text), where, failures)
        print(f"ok  {where}: Template checked")
    if cmd_generate(check=True):
        failures.add("openshift/", "generated Templates are out of date (diff above)")
    return report(
        failures,
        f"chart ok: lint, {len(cases)} case(s) rendered and validated (Kubernetes {', '.join(KUBE_VERSIONS)}, strict), "
        f"{len(invalid)} invalid case(s) rejected, {len(template_files())} Template(s) checked",
    )


def cmd_render(args) -> int:
    values: dict = {}
    for f in args.values or []:
        values = deep_merge(values, load_values(Path(f)))
    for s in args.set or []:
        values = deep_merge(values, helm.parse_set_string(s))
    try:
        rendered = render(values, name=args.name, namespace=args.namespace)
    except helm.HelmError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(manifests_text(rendered))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render", help="print the manifests (helm template)")
    r.add_argument("-f", "--values", action="append", help="values file (repeatable)")
    r.add_argument("--set", action="append", help="K=V (repeatable, helm --set syntax)")
    r.add_argument("--name", default=RELEASE, help="release name")
    r.add_argument("--namespace", default=NAMESPACE, help="namespace")
    sub.add_parser("lint", help="helm lint --strict")
    g = sub.add_parser("generate", help="render the OpenShift Templates into openshift/")
    g.add_argument("--check", action="store_true", help="fail if they are out of date")
    sub.add_parser("check", help="everything CI checks")
    args = parser.parse_args()
    if args.cmd == "render":
        return cmd_render(args)
    if args.cmd == "lint":
        return cmd_lint()
    if args.cmd == "generate":
        return cmd_generate(args.check)
    return cmd_check()


if __name__ == "__main__":
    sys.exit(main())
