#!/usr/bin/env bash
# Runs every test of the workspace: formatting, lints, unit / integration / doc tests with
# validation on (and the docs built, warnings denied), the crate with validation compiled
# out, benches built and run once (not timed), and the loom model-checking suite. This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all --check

step "lints"
# The root package's dev-dependencies turn lockdep's `tokio` feature on in workspace builds
# with tests; the second run lints lockdep without it.
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p lockdep --all-targets -- -D warnings
# ... and with validation compiled out (the benchmarks' compiled-out run builds that way).
cargo clippy -p lockdep --all-targets --features disabled -- -D warnings

step "tests (validation on)"
cargo test --workspace --all-targets

step "async: lockdep::tokio, the task as the holder (feature tokio)"
cargo test -p lockdep --features tokio --test 'tokio_*'

step "doc tests and docs"
cargo test --workspace --doc
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --quiet
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p lockdep --features tokio --quiet

step "lockdep with validation compiled out"
cargo test -p lockdep --features disabled --lib --test compiled_out --test compiled_out_dropin
cargo test -p lockdep --features disabled,tokio --test tokio_compiled_out

step "loom model checking (LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:=2})"
export LOOM_MAX_PREEMPTIONS
loom() { RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release "$@"; }
loom -p lockdep --features enabled,loom --test 'loom_*'
if ls tests/loom_*.rs >/dev/null 2>&1; then
  loom -p lockdep-workspace --test 'loom_*'
fi
