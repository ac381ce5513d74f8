#!/usr/bin/env python3
"""The layout rules of dtp's code (docs/ARCHITECTURE.md, "Rules the build checks"), checked by
`make lint`:

1. The pure core (`model`, `action`, `desired`, `plan`, `logs`) imports nothing but itself:
   no client, configuration, runner, metrics or report type can reach it.
2. No import cycle between sibling modules: the top-level modules of the crate, and the
   modules inside each folder (e.g. `clients::ocm` and `clients::vault`).
3. No product source file (`src/**.rs`; test files `tests.rs` and `tests/` excepted) over
   600 lines, no function over 80 lines (test modules excepted).

Imports are read from `crate::…` and `super::…` paths anywhere in a file, so a fully
qualified path counts like a `use`. Exits 1 and lists every violation.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PURE = {"model", "action", "desired", "plan", "logs"}
MAX_FILE_LINES = 600
MAX_FN_LINES = 80

PATH = re.compile(r"\b(crate|super)((?:::(?:\{[^}]*\}|\w+))+)")
FN = re.compile(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")


def module_path(file: pathlib.Path) -> list[str]:
    """`src/clients/ocm/mod.rs` -> ["clients", "ocm"]; `src/lib.rs` -> []."""
    rel = file.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def strip_comments(text: str) -> str:
    """Removes // comments (doc comments included) so that prose never counts as an import."""
    out = []
    for line in text.splitlines():
        code = re.sub(r'"(?:\\.|[^"\\])*"', '""', line)
        cut = code.find("//")
        out.append(line[:cut] if cut >= 0 else line)
    return "\n".join(out)


def referenced(file: pathlib.Path, text: str) -> set[tuple[str, ...]]:
    """Absolute module paths (as tuples) that the file refers to."""
    me = module_path(file)
    out = set()
    for m in PATH.finditer(strip_comments(text)):
        head, tail = m.group(1), m.group(2)
        segs = [s for s in re.split(r"::", tail) if s]
        # `super` names the parent of the current module; more `super`s go further up.
        base: list[str] = [] if head == "crate" else me[:-1]
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
        for seg in segs:
            if seg.startswith("{"):
                for name in re.findall(r"(?:^|[{,])\s*(\w+)", seg):
                    if name not in ("self", "super"):
                        out.add(tuple(base + [name]))
                break
            base = base + [seg]
            out.add(tuple(base))
    return out


def modules() -> set[tuple[str, ...]]:
    mods = set()
    for f in SRC.rglob("*.rs"):
        p = module_path(f)
        for i in range(1, len(p) + 1):
            mods.add(tuple(p[:i]))
    return mods


def check_imports(files: list[pathlib.Path], mods: set, errors: list[str]) -> dict:
    """Forbidden imports of the pure core; returns the sibling-edge graph."""
    edges: dict[tuple, set] = {}
    for f in files:
        me = tuple(module_path(f))
        text = f.read_text()
        for target in referenced(f, text):
            if target not in mods:
                continue
            if me and me[0] in PURE and target[0] not in PURE:
                errors.append(
                    f"{f.relative_to(ROOT)}: the pure core must not use crate::{'::'.join(target)}"
                )
            # The sibling modules involved: longest common parent, then one level below it.
            common = 0
            while common < min(len(me), len(target)) and me[common] == target[common]:
                common += 1
            if common < len(me) and common < len(target):
                a = me[: common + 1]
                b = target[: common + 1]
                edges.setdefault(a, set()).add(b)
    return edges


def check_cycles(edges: dict, errors: list[str]) -> None:
    seen: set = set()
    stack: list = []
    on_stack: set = set()

    def visit(n):
        seen.add(n)
        stack.append(n)
        on_stack.add(n)
        for m in sorted(edges.get(n, ())):
            if m in on_stack:
                cycle = stack[stack.index(m):] + [m]
                errors.append("import cycle: " + " -> ".join("::".join(c) for c in cycle))
            elif m not in seen:
                visit(m)
        stack.pop()
        on_stack.discard(n)

    for n in sorted(edges):
        if n not in seen:
            visit(n)


def check_sizes(files: list[pathlib.Path], errors: list[str]) -> None:
    for f in files:
        lines = f.read_text().splitlines()
        rel = f.relative_to(ROOT)
        is_test_file = f.name == "tests.rs" or "tests" in f.relative_to(SRC).parts[:-1]
        if len(lines) > MAX_FILE_LINES and not is_test_file:
            errors.append(f"{rel}: {len(lines)} lines (at most {MAX_FILE_LINES})")
        in_tests = is_test_file
        for i, line in enumerate(lines):
            if line.startswith("#[cfg(test)]"):
                in_tests = True
            m = FN.match(line)
            if not m or in_tests or line.rstrip().endswith(";"):
                continue
            indent = m.group(1)
            for j in range(i + 1, len(lines)):
                if lines[j] == indent + "}":
                    n = j - i + 1
                    if n > MAX_FN_LINES:
                        errors.append(
                            f"{rel}:{i + 1}: fn {m.group(2)} has {n} lines (at most {MAX_FN_LINES})"
                        )
                    break


def main() -> int:
    files = sorted(SRC.rglob("*.rs"))
    mods = modules()
    errors: list[str] = []
    edges = check_imports(files, mods, errors)
    check_cycles(edges, errors)
    check_sizes(files, errors)
    for e in errors:
        print(e)
    if errors:
        print(f"layout: {len(errors)} violation(s) (see docs/ARCHITECTURE.md)")
        return 1
    print(f"layout: {len(files)} files, {len(mods)} modules: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
