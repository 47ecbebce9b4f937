#!/usr/bin/env bash
# Builds the published crates (plugobs, plugobs-runtime, plugobs-macros, plugobs-cli) with every direct
# dependency at the minimum its manifest declares, so a declared minimum is one plugobs
# builds with. Works in a scratch copy: a workspace of the four crates alone, without
# their dev-dependencies and loom (which only tests and benches use), every direct dependency
# pinned with `cargo update -p NAME --precise MIN`, then `cargo build --all-features`.
# Needs cargo, python3 (to read `cargo metadata`) and crates.io.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
published=(plugobs plugobs-runtime plugobs-macros plugobs-cli)

scratch="$(mktemp -d "${TMPDIR:-/tmp}/plugobs-min-versions.XXXXXX")"
trap '[[ -n ${KEEP:-} ]] || rm -rf "$scratch"' EXIT
git ls-files -z -- Cargo.toml Cargo.lock LICENSE-APACHE LICENSE-MIT README.md "${published[@]}" |
    xargs -0 cp --parents -t "$scratch"
repo="$PWD"
cd "$scratch"

python3 - "${published[@]}" <<'EOF'
import re, sys
crates = sys.argv[1:]
root = open("Cargo.toml").read()
members = "members = [\n" + "".join(f'    "{c}",\n' for c in crates) + "]"
root = re.sub(r"members = \[.*?\]", members, root, count=1, flags=re.S)
open("Cargo.toml", "w").write(root)
for crate in crates:
    path = f"{crate}/Cargo.toml"
    text = open(path).read()
    # Drop loom (the model tests' only), [dev-dependencies] and the [[bench]] / [[test]] / [[example]] targets that use them.
    text = re.sub(r"(?ms)^\[target\.'cfg\(loom\)'\.dependencies\].*?(?=^\[)", "", text)
    text = re.sub(r"(?ms)^\[dev-dependencies\].*?(?=^\[)|^\[dev-dependencies\].*\Z", "", text)
    text = re.sub(r"(?ms)^\[\[(bench|test|example)\]\].*?(?=^\[)|^\[\[(bench|test|example)\]\].*\Z", "", text)
    open(path, "w").write(text)
EOF
rm -rf plugobs/benches plugobs/tests plugobs/examples

cargo generate-lockfile --quiet
# NAME@LOCKED MIN for each registry dependency of the published crates (normal and build
# kinds). A crate in the graph twice (another major version through a dependency) is
# pinned in the version whose major (or 0.minor) the requirement names.
pins="$(cargo metadata --format-version 1 --all-features | python3 -c '
import json, re, sys
m = json.load(sys.stdin)
ours = set(m["workspace_members"])
key = lambda s: tuple(map(int, s.split(".")))
def series(v):
    major, minor = v.split(".")[:2]
    return major if major != "0" else major + "." + minor
wanted = {}
for p in m["packages"]:
    if p["id"] not in ours:
        continue
    for d in p["dependencies"]:
        if d["kind"] == "dev" or d.get("path") or d.get("target") == "cfg(loom)":
            continue
        req = d["req"]
        if not re.fullmatch(r"[\^=~]?\d+(\.\d+){0,2}", req):
            sys.exit(p["name"] + ": " + d["name"] + " = " + req + " is not a plain minimum")
        v = ".".join((req.lstrip("^=~").split(".") + ["0", "0"])[:3])
        wanted[d["name"]] = max(wanted.get(d["name"], v), v, key=key)
for name, v in sorted(wanted.items()):
    locked = [p["version"] for p in m["packages"] if p["name"] == name and series(p["version"]) == series(v)]
    if not locked:
        sys.exit(name + " " + v + " is not in the resolved graph")
    print(name + "@" + locked[0], v)
')"
echo "$pins" | while read -r spec min; do
    printf '  %-40s -> %s\n' "$spec" "$min"
    cargo update --quiet -p "$spec" --precise "$min"
done

CARGO_TARGET_DIR="$repo/target/min-versions" cargo build --quiet --all-features -p plugobs -p plugobs-runtime -p plugobs-macros -p plugobs-cli
echo "the published crates build with every direct dependency at its declared minimum"
