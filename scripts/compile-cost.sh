#!/usr/bin/env bash
# What instrumenting 200 methods costs at compile time.
#
# Generates a crate of 20 impl blocks x 10 methods (trivial bodies returning `Result`)
# under target/compile-cost and builds it (debug, dependencies prebuilt) three ways:
# no attribute, `#[tracing::instrument]` on each method, `#[plugobs::instrumented]` on
# each impl. Prints the median wall time of REPS builds of that crate alone and the
# lines of LLVM IR it emits (kept in target/compile-cost/<variant>.ll).
#
#   scripts/compile-cost.sh            # REPS=5
#   REPS=3 scripts/compile-cost.sh
set -euo pipefail
# Every build starts from scratch: incremental reuse would hide the cost of codegen.
export CARGO_INCREMENTAL=0

REPS="${REPS:-5}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/target/compile-cost"
mkdir -p "$DIR/src"
cp "$ROOT/Cargo.lock" "$DIR/Cargo.lock"
cat > "$DIR/Cargo.toml" <<TOML
[package]
name = "compile-cost"
version = "0.0.0"
edition = "2024"
publish = false

[lib]
path = "src/lib.rs"

[dependencies]
plugobs = { path = "$ROOT/plugobs" }
tracing = { version = "0.1", features = ["attributes"] }

[workspace]
TOML

# $1: none | tracing | plugobs
generate() {
    local mode="$1"
    {
        echo "#![allow(dead_code, clippy::all)]"
        echo "#[derive(Debug)] pub struct Error;"
        echo "#[plugobs::plugin] #[derive(Default)] pub struct Host;"
        for i in $(seq 0 19); do
            echo "#[derive(Debug, Default)] pub struct S$i(u32);"
            if [ "$mode" = plugobs ]; then echo "#[plugobs::instrumented(plugin = Host)]"; fi
            echo "impl S$i {"
            for j in $(seq 0 9); do
                if [ "$mode" = tracing ]; then echo "    #[tracing::instrument]"; fi
                echo "    pub fn m$j(&self, x: u32) -> Result<u32, Error> {"
                echo "        if x > $j { Ok(x + self.0) } else { Err(Error) }"
                echo "    }"
            done
            echo "}"
        done
    } > "$DIR/src/lib.rs"
}

# cargo_ SUBCOMMAND [ARGS...], on the generated crate.
cargo_() {
    local sub="$1"
    shift
    cargo "$sub" --quiet --manifest-path "$DIR/Cargo.toml" --target-dir "$DIR/target" "$@"
}

generate none
cargo_ build # dependencies

printf '%-10s %12s %12s\n' variant "build (s)" "IR lines"
for mode in none tracing plugobs; do
    generate "$mode"
    times=()
    for _ in $(seq "$REPS"); do
        touch "$DIR/src/lib.rs"
        start=$(date +%s.%N)
        cargo_ build
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc)")
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    rm -f "$DIR"/target/debug/deps/compile_cost-*.ll
    touch "$DIR/src/lib.rs"
    cargo_ rustc --lib -- --emit=llvm-ir
    cat "$DIR"/target/debug/deps/compile_cost-*.ll > "$DIR/$mode.ll"
    ir=$(wc -l < "$DIR/$mode.ll")
    printf '%-10s %12.2f %12d\n' "$mode" "$median" "$ir"
done
