#!/usr/bin/env bash
# Builds and tests fixtures/parking-lot-user against the *real* parking_lot 0.12: the same
# source with the one dependency line switched back. Proves the fixture (every parking_lot
# lock item, used as a parking_lot user writes it) is parking_lot code, so what builds under
# the rename (`./test-all.sh` builds it as a workspace member) is parking_lot's API.
#
#   scripts/fixture-on-parking-lot.sh   # needs crates.io (or a registry cache with parking_lot)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$ROOT/target/fixture-on-parking-lot"
rm -rf "$WORK/src" "$WORK/tests"
mkdir -p "$WORK"
cp -r "$ROOT/fixtures/parking-lot-user/src" "$ROOT/fixtures/parking-lot-user/tests" "$WORK/"
python3 - "$ROOT/fixtures/parking-lot-user/Cargo.toml" "$WORK/Cargo.toml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
text, n = re.subn(r'(?m)^parking_lot = \{ package = "lockdep".*$',
                  'parking_lot = { version = "0.12", features = ["arc_lock", "serde"] }', text)
if n != 1:
    sys.exit("the fixture's parking_lot line was not found")
open(sys.argv[2], "w").write(text + "\n[workspace]\n")
PY
cd "$WORK"
export CARGO_TARGET_DIR="$WORK/target"
cargo test
cargo test --features deadlock_detection --test fixture
