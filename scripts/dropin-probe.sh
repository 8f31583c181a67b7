#!/usr/bin/env bash
# Measures the drop-in paths (issue 16) against their twins in ways that survive a busy
# machine, as in BENCHMARKS.md's "Drop-in paths" section:
#   - instructions per iteration (valgrind --tool=callgrind: exact, repeatable);
#   - CPU time per iteration (perf stat -e task-clock: on-CPU time only), best of R runs,
#     twin and lockdep interleaved.
#
#   scripts/dropin-probe.sh              # both measures (needs valgrind and perf)
#   scripts/dropin-probe.sh instructions # callgrind only
#   scripts/dropin-probe.sh time         # perf only
#   LOCKDEP=off scripts/dropin-probe.sh  # the wrappers' own cost, validation off at run time
#
# The probe is a small release-built crate written to target/dropin-probe, on this checkout's
# lockdep with validation on. It is not a substitute for benches/run.sh (criterion, all
# cases); it explains a ratio when one looks wrong.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$ROOT/target/dropin-probe"
WHAT="${1:-both}"
mkdir -p "$WORK/src"
cat > "$WORK/Cargo.toml" <<TOML
[package]
name = "dropin-probe"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
lockdep = { path = "$ROOT/lockdep-rs", features = ["enabled"] }
parking_lot = "0.12"
[profile.release]
debug = 1
[workspace]
TOML
cat > "$WORK/src/main.rs" <<'RS'
use std::hint::black_box;
use std::time::Duration;

fn run(case: &str, n: u64) {
    let t = Duration::from_secs(1);
    macro_rules! go {
        ($body:expr) => {{
            for _ in 0..n {
                $body;
            }
        }};
    }
    match case {
        "pl_lock" => { let m = parking_lot::Mutex::new(0u64); go!(*black_box(&m).lock() += 1) }
        "ld_lock" => { let m = lockdep::Mutex::named("probe", 0u64); go!(*black_box(&m).lock() += 1) }
        "pl_timed" => { let m = parking_lot::Mutex::new(0u64); go!(*black_box(&m).try_lock_for(t).unwrap() += 1) }
        "ld_timed" => { let m = lockdep::Mutex::named("probe", 0u64); go!(*black_box(&m).try_lock_for(t).unwrap() += 1) }
        "pl_re" => { let m = parking_lot::ReentrantMutex::new(0u64); go!({ let a = black_box(&m).lock(); let b = black_box(&m).lock(); black_box((*a, *b)); }) }
        "ld_re" => { let m = lockdep::ReentrantMutex::named("probe", 0u64); go!({ let a = black_box(&m).lock(); let b = black_box(&m).lock(); black_box((*a, *b)); }) }
        "pl_up" => { let l = parking_lot::RwLock::new(0u64); go!(*parking_lot::RwLockUpgradableReadGuard::upgrade(black_box(&l).upgradable_read()) += 1) }
        "ld_up" => { let l = lockdep::RwLock::named("probe", 0u64); go!(*lockdep::RwLockUpgradableReadGuard::upgrade(black_box(&l).upgradable_read()) += 1) }
        "std" => { let m = std::sync::Mutex::new(0u64); go!(*black_box(&m).lock().unwrap() += 1) }
        "ld_std" => { let m = lockdep::stdsync::Mutex::named("probe", 0u64); go!(*black_box(&m).lock().unwrap() += 1) }
        _ => panic!("unknown case {case}"),
    }
}

fn main() {
    let case = std::env::args().nth(1).expect("a case");
    let n = std::env::var("N").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    run(&case, 1000); // warm: classes registered, chains cached
    run(&case, n);
}
RS
export CARGO_TARGET_DIR="$WORK/target"
(cd "$WORK" && cargo build --release -q)
BIN="$WORK/target/release/dropin-probe"
PAIRS="pl_lock:ld_lock pl_timed:ld_timed pl_up:ld_up pl_re:ld_re std:ld_std"

instructions() { # case -> instructions per iteration
  local a=20000 i1 i2
  i1=$(N=$a valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  i2=$(N=$((2 * a)) valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  echo $(((i2 - i1) / a))
}
cpu_ns() { # case -> task-clock ms of one run
  N=${N:-10000000} perf stat -x, -e task-clock "$BIN" "$1" 2>&1 >/dev/null | grep task-clock | cut -d, -f1
}

if [ "$WHAT" != time ]; then
  echo "instructions per iteration (twin / lockdep):"
  for p in $PAIRS; do
    echo "  ${p%%:*} $(instructions "${p%%:*}") / ${p##*:} $(instructions "${p##*:}")"
  done
fi
if [ "$WHAT" != instructions ]; then
  echo "CPU time per iteration, best of ${R:-8} (twin / lockdep / ratio):"
  for p in $PAIRS; do
    a=999999; b=999999
    for _ in $(seq "${R:-8}"); do
      x=$(cpu_ns "${p%%:*}"); y=$(cpu_ns "${p##*:}")
      a=$(python3 -c "print(min($a, $x))"); b=$(python3 -c "print(min($b, $y))")
    done
    python3 -c "n = ${N:-10000000} + 1000; print('  %-8s %6.2f ns  %-8s %6.2f ns  %.2fx' % ('${p%%:*}', $a * 1e6 / n, '${p##*:}', $b * 1e6 / n, $b / $a))"
  done
fi
