#!/usr/bin/env bash
# Runs real crates' own test suites with lockdep switched in (issue 16), and records results.
#
#   scripts/real-crates.sh               # every crate below
#   scripts/real-crates.sh quick_cache   # only the named ones (all their rows)
#   scripts/real-crates.sh threadpool/std+thread   # only that row of the crate
#
# For each crate: fetch its published source from the registry (cargo fetch, so it works from
# a fresh clone with network access to crates.io), copy it to target/real-crates/src/, apply
# the one-line switch, run `cargo test` with validation on and LOCKDEP=warn (`--no-fail-fast`: a
# test binary in which lockdep reported exits with 101, and the later ones, doc tests
# included, still run), and write the log and a summary line to target/real-crates/results.txt. The switch is the README's:
# - parking_lot users: the dependency renamed, `parking_lot = { package = "lockdep", path, features = ["enabled", "drop-in"] }`;
# - std users: the path `std::sync` replaced by `lockdep::stdsync` (`use std::sync;` becomes
#   `use lockdep::stdsync as sync;`), lockdep added as a dependency;
# - kind `std+thread`: that, and the path `std::thread` replaced by `lockdep::thread` too (its
#   joins become validated waits; `std::thread_local!` is not `std::thread` and stays).
# - kind `parking_lot+std`: a crate that uses both (parking_lot's locks and std's): the rename,
#   and the path `std::sync` replaced by `parking_lot::stdsync` (the renamed package is lockdep:
#   Cargo does not let one crate depend on it under a second name).
# - tokio users (kind `tokio`): the path `tokio::sync` replaced by `lockdep::tokio::sync` in every
#   .rs file of the crate (library, tests, examples, benches, doc comments), the `sync` items of
#   a grouped import (`use tokio::{sync::Mutex, time};`) moved to an import of their own
#   (`use lockdep::tokio::{sync::Mutex};`), lockdep added with its `tokio` feature.
# - kind `std+tokio`: a crate with both (std's locks and tokio's): both switches, lockdep added
#   once with its `tokio` feature.
# A crate whose locks are held inside tokio tasks gets lockdep's `tokio` feature too (last
# column), so the task is the holder of its blocking locks.
#
#   BASELINE=1 scripts/real-crates.sh NAME   # the same rows and tests, not switched (logs
#                                            # NAME-VERSION.baseline.log): a failure there is
#                                            # the crate's, not lockdep's
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCKDEP="$ROOT/lockdep-rs"
WORK="$ROOT/target/real-crates"
export CARGO_TARGET_DIR="$WORK/target"
mkdir -p "$WORK/src"
RESULTS="$WORK/results.txt"

# name version kind(parking_lot|parking_lot+std|std|std+thread|tokio|std+tokio) features test-targets lockdep-features ("-": none / all / none)
# (test-targets: any further `cargo test` arguments, space-free, e.g. `--lib` or `--no-default-features`)
# and, optionally, a seventh column: dependencies switched too, `name@version,...` (a crate
# whose locks live in its own `-core` crate): each one's published source is switched the
# same way and patched in (`[patch.crates-io]`); not for BASELINE=1, which uses them as published
CRATES=(
  "quick_cache 0.7.0 parking_lot parking_lot - -"
  # its published integration tests need `tracing-mock`, which is not on crates.io: unit tests only
  "tracing-subscriber 0.3.23 parking_lot parking_lot,env-filter,fmt,registry,std --lib -"
  "r2d2 0.8.10 parking_lot - - -"
  "scheduled-thread-pool 0.2.7 parking_lot - - -"
  "threadpool 1.8.1 std - - -"
  "threadpool 1.8.1 std+thread - - -"
  "rayon-core 1.13.0 std - - -"
  "rayon-core 1.13.0 std+thread - - -"
  "moka 0.12.16 parking_lot sync - -"
  # bb8's pool state is a parking_lot Mutex taken inside tokio tasks: the `tokio` feature makes the task its holder
  "bb8 0.9.1 parking_lot - - tokio"
  # CancellationToken's tree: std Mutexes of one class nested parent -> child -> grandchild, in tokio tasks
  "tokio-util 0.7.20 std full - tokio"
  # tokio users (the `tokio` kind adds lockdep's `tokio` feature itself): a singleflight group's
  # map under a tokio Mutex
  "async_singleflight 0.6.2 tokio - - -"
  # a cron scheduler whose job and notification stores are tokio RwLocks, taken in its tasks
  "tokio-cron-scheduler 0.15.1 tokio - - -"
  # a batching loader: its state and load-function tokio Mutexes nested, driven by
  # `futures::executor::block_on` on plain threads (outside any tokio task)
  "dataloader 0.18.0 tokio runtime-tokio --no-default-features -"
  # a mock HTTP server: its state a tokio RwLock, written across the request handler's
  # `.await`s in a current-thread runtime on a thread of its own, read and written by
  # `futures::executor::block_on` in the `Drop` of the server and of scoped mocks; most of its
  # tests run under `async_std::test` (tokio's locks outside any tokio task)
  "wiremock 0.6.5 tokio - - -"
  # sessions for tower/axum: a session's record is a tokio Mutex, held across the store's
  # `.await`s (the memory store's own tokio Mutex under it) and handed out mapped
  # (`MutexGuard::map`); both live in dependencies, switched too and patched in
  "tower-sessions 0.15.0 tokio - - - tower-sessions-core@0.15.0,tower-sessions-memory-store@0.15.0"
  # memoizing macros: an async `#[cached(sync_writes)]` / `#[once(sync_writes)]` function holds its
  # cache's tokio Mutex / RwLock (`cached::async_sync`, a re-export of tokio's) across the
  # call of its body; "by_key": a map Mutex, then a per-key Mutex (cached 4.x uses async-lock)
  # (`--tests`: its example `redis-async` needs `redis_store` but does not require it, so a
  # plain `cargo test` fails to build it, switched or not; doc tests are not run)
  "cached 0.56.0 tokio async --tests -"
  # actors: each actor's links (siblings, children, parent) a tokio Mutex, two actors' taken
  # together in id order (`link`, `link_child`; `blocking_link` with `blocking_lock`), taken in
  # the actor's task when it stops and notifies its links
  "kameo 0.22.2 tokio - - -"
  # a keyed lock: a registry of per-key tokio Mutexes (one construction site), each taken with
  # `lock_owned` and kept in the crate's guard, whose `Drop` takes the (parking_lot, not switched)
  # registry lock while the key's owned guard is still held
  "keyed-lock 0.2.3 tokio - - -"
  # trial 4. A metrics registry: parking_lot RwLocks (the registry, each metric vec's children),
  # std Mutexes in histograms (collect_lock) and in its tests: both switched in the second row
  "prometheus 0.14.0 parking_lot - - -"
  "prometheus 0.14.0 parking_lot+std - - -"
  # test serialisation: per-key parking_lot Mutex + Condvar + ReentrantMutex, in a std Mutex'd map
  "serial_test 3.5.0 parking_lot - - -"
  "serial_test 3.5.0 parking_lot+std - - -"
  # a channel: its queue under a std Mutex, each waiting hook's slot a Mutex taken under it;
  # blocking on `thread::park`
  "flume 0.11.1 std - - -"
  "flume 0.11.1 std+thread - - -"
  # std's Mutex + Condvar (WaitGroup, Parker), a sharded RwLock (one class, 8 shards nested,
  # guards kept in the shards), a lock taken in a thread-local destructor, and scoped threads
  # joined under a lock
  "crossbeam-utils 0.8.23 std - - -"
  "crossbeam-utils 0.8.23 std+thread - - -"
  # trial 5. A pool: its slots a std Mutex taken inside tokio tasks (never across an `.await`),
  # the free objects counted by a tokio Semaphore; the second row switches the tests' tokio
  # Mutexes too (managed_deadlock's manager holds one across its channel's `recv().await`)
  "deadpool 0.12.3 std managed,unmanaged,rt_tokio_1,serde - tokio"
  "deadpool 0.12.3 std+tokio managed,unmanaged,rt_tokio_1,serde - -"
  # service middleware: tokio's channels (Buffer) and Semaphore (ConcurrencyLimit) but no tokio
  # lock (the `tokio` row switches paths only); its locks are std Mutexes (Buffer's worker
  # error slot, hedge's histogram, peak-EWMA's estimate, the retry budget): the second row
  "tower 0.5.3 tokio full - -"
  "tower 0.5.3 std+tokio full - -"
  # trial 5 (std users). Progress bars: each bar's state a std Mutex, its steady ticker (a Mutex<Option<Ticker>>,
  # a thread stopped by a Mutex + Condvar and joined when replaced), a MultiProgress's RwLock
  # taken under a bar's state when it draws (`in_memory`: the render tests)
  "indicatif 0.18.6 std in_memory - -"
  "indicatif 0.18.6 std+thread in_memory - -"
  # channels: each array/list channel's two waker lists and each zero-capacity channel's state a
  # std Mutex (all built in the crate's `utils::Mutex::new` wrapper: one class), `Select` over several
  "crossbeam-channel 0.5.17 std - - -"
  "crossbeam-channel 0.5.17 std+thread - - -"
  # trial 6 (std users). An async executor: its state's task slab (`active`) and sleeping tickers
  # (`sleepers`) std Mutexes, its runners' local queues an RwLock; tasks run from several threads
  # (feature `static`: `StaticExecutor`, its state in a `static`, and its doc tests)
  "async-executor 1.14.1 std static - -"
  "async-executor 1.14.1 std+thread static - -"
  # a thread pool for blocking work: one static std Mutex + Condvar; threads spawned under the
  # lock (`grow_pool`), idle ones parked on the Condvar with a timeout, never joined
  "blocking 1.7.0 std - - -"
  "blocking 1.7.0 std+thread - - -"
  # trial 6 (parking_lot / std users). A non-blocking writer: a worker thread draining a
  # crossbeam channel, its guard's drop a rendezvous with the worker; the rolling appender's file
  # a std RwLock (built in the crate's `sync::RwLock::new` wrapper), read per write, written on rollover
  "tracing-appender 0.2.5 std - - -"
  "tracing-appender 0.2.5 std+thread - - -"
  # a logger: each file appender's writer a parking_lot Mutex; the rolling appender holds it
  # while its policy checks the trigger (the time trigger's std RwLock and Once) and rolls
  # (`background_rotation`: a Mutex<bool> + Condvar waited on under the writer, set by a rotation thread)
  "log4rs 1.4.0 parking_lot background_rotation - -"
  "log4rs 1.4.0 parking_lot+std background_rotation - -"
)

fetch() { # name version -> prints the source directory
  local name=$1 version=$2 probe="$WORK/probe-$1"
  mkdir -p "$probe/src"
  touch "$probe/src/lib.rs"
  cat > "$probe/Cargo.toml" <<TOML
[package]
name = "probe"
version = "0.0.0"
edition = "2021"
[dependencies]
$name = "=$version"
[workspace]
TOML
  (cd "$probe" && cargo fetch -q)
  local home="${CARGO_HOME:-$HOME/.cargo}"
  ls -d "$home"/registry/src/*/"$name-$version" | head -1
}

lockdep_features() { # extra lockdep features ("-": none) -> a TOML list
  local f='"enabled", "drop-in"' x
  if [ "$1" != - ]; then for x in ${1//,/ }; do f="$f, \"$x\""; done; fi
  echo "[$f]"
}

switch_parking_lot() { # crate dir, lockdep features: rename the parking_lot dependency to lockdep
  python3 - "$1/Cargo.toml" "$LOCKDEP" "$(lockdep_features "$2")" <<'PY'
import re, sys
path, lockdep, features = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
def fix(m):
    body = re.sub(r'(?m)^version = .*\n', '', m.group(2))
    body = re.sub(r'(?m)^features = .*\n', '', body)
    return (m.group(1) + f'package = "lockdep"\npath = "{lockdep}"\nfeatures = {features}\n' + body)
text, n = re.subn(r'(?ms)^(\[(?:dev-)?dependencies\.parking_lot\]\n)(.*?)(?=^\[|\Z)', fix, text)
# `parking_lot = ...` inside a dependency table only (bb8's `[features]` has `parking_lot = [..]` too)
def inline(m):
    return re.sub(r'(?m)^parking_lot = (.*)$', f'parking_lot = {{ package = "lockdep", path = "{lockdep}", features = {features} }}', m.group(0))
text2, n2 = re.subn(r'(?ms)^\[(?:[^\]\n]*\.)?(?:dev-)?dependencies\]\n.*?(?=^\[|\Z)', lambda m: inline(m), text)
n2 = text2 != text
if n + n2 == 0:
    sys.exit("no parking_lot dependency found")
open(path, "w").write(text2 + "\n[workspace]\n")
PY
}

switch_std() { # crate dir, lockdep features, thread(0|1)[, crate name (lockdep)]: std::sync -> lockdep::stdsync, lockdep added
  local ld=${4:-lockdep} files
  # A grouped import's `sync` items (and, kind std+thread, `thread` items) move to an import
  # of their own: `use std::{collections::HashMap, sync::{Arc, Mutex}};` becomes
  # `use std::{collections::HashMap};` and `use lockdep::{stdsync::{Arc, Mutex}};` (serial_test's
  # lock map, flume's `thread::{self, Thread}`); the sed below then sees no group. A group in a
  # comment stays (tower's doc example `//! use std::{future, sync::Arc};`), as the sed's do.
  mapfile -t files < <(grep -rlE --include='*.rs' '\buse (::)?std::\{' "$1/src" "$1/tests" 2>/dev/null || true)
  local items=sync
  [ "$3" = 1 ] && items='sync|thread'
  # (`sync` becomes `stdsync as sync`, `sync::X` becomes `stdsync::X`; `thread` keeps its name.)
  [ ${#files[@]} -gt 0 ] && python3 "$ROOT/scripts/split_use.py" --root std --items "$items" --code-only \
    --to "$ld" --rename '^sync$=stdsync as sync' --rename '^sync\b=stdsync' "${files[@]}"
  { grep -rl 'std::sync' "$1/src" "$1/tests" 2>/dev/null || true; } | xargs -r sed -i -e "/^\s*\/\//! s/std::sync/$ld::stdsync/g" \
    -e "s/\buse $ld::stdsync;/use $ld::stdsync as sync;/" \
    -e "s/\buse $ld::stdsync::{\(\s*\)self\([,} ]\)/use $ld::stdsync::{\1self as sync\2/"
  # std::thread -> lockdep::thread (the module keeps its name `thread`); `\b` keeps
  # `std::thread_local!`, and comment lines keep std's as above.
  if [ "$3" = 1 ]; then
    { grep -rlw 'std::thread' "$1/src" "$1/tests" 2>/dev/null || true; } | xargs -r sed -i -e "/^\s*\/\//! s/std::thread\b/$ld::thread/g"
  fi
  # (kind parking_lot+std: lockdep is already the crate's `parking_lot`, nothing to add)
  [ "$ld" = lockdep ] || return 0
  # (`use std::sync;` named the module `sync`: rayon-core's `crate::sync::Mutex`; so does
  # `use std::sync::{self, ..}`: tracing-appender's `sync::RwLock`, the sed's second line.)
  # (Comment lines, doc examples included, keep std::sync: they are not the crate's locks.)
  # A 2015-edition crate names every dependency with `extern crate` (anywhere at the crate root).
  if ! grep -q '^edition' "$1/Cargo.toml"; then
    echo 'extern crate lockdep;' >> "$1/src/lib.rs"
  fi
  add_lockdep "$1" "$(lockdep_features "$2")"
}

switch_tokio() { # crate dir, lockdep features: tokio::sync -> lockdep::tokio::sync, lockdep added with `tokio`
  # Every .rs file that names the path, doc comments included (a doc example that hands a lock
  # to the crate must name the crate's lock type). A grouped import's `sync` items move to an
  # import of their own: `use tokio::{sync::Mutex, time};` becomes `use tokio::{time};` and
  # `use lockdep::tokio::{sync::Mutex};`.
  local files
  mapfile -t files < <(grep -rlE --include='*.rs' '\btokio::(sync\b|\{)' "$1" || true)
  [ ${#files[@]} -gt 0 ] || echo "warning: no tokio::sync path in $1: nothing switched" >&2
  # Then the path itself, `::tokio::sync` too; not `lockdep::tokio::sync` nor `foo::tokio::sync`.
  [ ${#files[@]} -gt 0 ] && python3 "$ROOT/scripts/split_use.py" --root tokio --items sync \
    --to lockdep::tokio --then '(?<![\w:])(::)?tokio::sync\b=\1lockdep::tokio::sync' "${files[@]}"
  if ! grep -q '^edition' "$1/Cargo.toml"; then
    echo 'extern crate lockdep;' >> "$1/src/lib.rs"
  fi
  local ld=tokio
  [ "$2" != - ] && ld="$2,tokio"
  add_lockdep "$1" "$(lockdep_features "$ld")"
}

add_lockdep() { # crate dir, lockdep features (a TOML list): lockdep as a dependency, a workspace of its own
  python3 - "$1/Cargo.toml" "$LOCKDEP" "$2" <<'PY'
import sys
path, lockdep, features = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
if "[dependencies.lockdep]" in text:  # kind std+tokio: added by the first switch
    sys.exit(0)
text = text.replace("[dependencies]", f'[dependencies.lockdep]\npath = "{lockdep}"\nfeatures = {features}\n\n[dependencies]', 1) if "[dependencies]" in text else text + f'\n[dependencies.lockdep]\npath = "{lockdep}"\nfeatures = {features}\n'
open(path, "w").write(text + "\n[workspace]\n")
PY
}

: > "$RESULTS.new"
for entry in "${CRATES[@]}"; do
  read -r name version kind features targets ldfeatures deps <<<"$entry"
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* && " $* " != *" $name/$kind "* ]]; then continue; fi
  echo "== $name $version ($kind)"
  # a crate's rows other than its first kind get their own copy and log: name-version+kind
  tag="$name-$version"
  [ "$kind" = std+thread ] && tag="$tag+thread"
  [ "$kind" = parking_lot+std ] && tag="$tag+std"
  [ "$kind" = std+tokio ] && tag="$tag+tokio"
  [ "${BASELINE:-0}" = 1 ] && tag="$tag.baseline"
  src="$(fetch "$name" "$version")"
  dir="$WORK/src/$tag"
  rm -rf "$dir"
  cp -r "$src" "$dir"
  chmod -R u+w "$dir"
  rm -f "$dir/Cargo.lock"
  if [ "${BASELINE:-0}" = 1 ]; then # unswitched: only a workspace of its own
    echo '[workspace]' >> "$dir/Cargo.toml"
  else case "$kind" in
    parking_lot) switch_parking_lot "$dir" "$ldfeatures" ;;
    parking_lot+std) switch_parking_lot "$dir" "$ldfeatures"; switch_std "$dir" - 0 parking_lot ;;
    std) switch_std "$dir" "$ldfeatures" 0 ;;
    std+thread) switch_std "$dir" "$ldfeatures" 1 ;;
    tokio) switch_tokio "$dir" "$ldfeatures" ;;
    std+tokio) switch_std "$dir" "$( [ "$ldfeatures" = - ] && echo tokio || echo "$ldfeatures,tokio")" 0
      switch_tokio "$dir" "$ldfeatures" ;;
    *) echo "unknown kind $kind" >&2; exit 1 ;;
  esac; fi
  if [ "${BASELINE:-0}" != 1 ] && [ -n "${deps:-}" ] && [ "$deps" != - ]; then
    # each dependency switched in a copy beside the crate's, and patched in by path
    printf '\n[patch.crates-io]\n' >> "$dir/Cargo.toml"
    for dep in ${deps//,/ }; do
      ddir="$dir.deps/${dep%@*}"
      rm -rf "$ddir"; mkdir -p "$dir.deps"
      cp -r "$(fetch "${dep%@*}" "${dep#*@}")" "$ddir"
      chmod -R u+w "$ddir"
      rm -f "$ddir/Cargo.lock"
      case "$kind" in
        parking_lot) switch_parking_lot "$ddir" "$ldfeatures" ;;
        std) switch_std "$ddir" "$ldfeatures" 0 ;;
        std+thread) switch_std "$ddir" "$ldfeatures" 1 ;;
        tokio) switch_tokio "$ddir" "$ldfeatures" ;;
      esac
      echo "${dep%@*} = { path = \"$ddir\" }" >> "$dir/Cargo.toml"
    done
  fi
  args=()
  [ "$features" != - ] && args=(--features "$features")
  [ "$targets" != - ] && args+=($targets)
  log="$WORK/$tag.log"
  set +e
  (cd "$dir" && LOCKDEP=warn LOCKDEP_BACKTRACE=0 timeout 1500 cargo test -j 1 --no-fail-fast "${args[@]}" -- --nocapture --test-threads 2) > "$log" 2>&1
  rc=$?
  set -e
  passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1/' | paste -sd+ | bc 2>/dev/null || echo 0)
  failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\2/' | paste -sd+ | bc 2>/dev/null || echo 0)
  reports=$(grep -cE '^WARNING: |^BUG: ' "$log" || true)
  kinds=$(grep -E '^WARNING: |^BUG: ' "$log" | sort | uniq -c | sed 's/^ *//' | paste -sd';' || true)
  [ "${BASELINE:-0}" = 1 ] && kind="$kind, baseline: not switched"
  echo "$name $version ($kind) exit=$rc passed=${passed:-0} failed=${failed:-0} reports=$reports [$kinds]" | tee -a "$RESULTS.new"
done
cat "$RESULTS.new" >> "$RESULTS"
echo "results appended to $RESULTS; logs in $WORK/"
