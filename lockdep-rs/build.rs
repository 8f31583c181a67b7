//! Decides whether validation is compiled in, and says so to the crate as `cfg(lockdep_enabled)`.
//!
//! - feature `enabled`: on, in every profile (tests of a release build, benchmarks);
//! - else feature `disabled`: off, in every profile;
//! - else on exactly when the build has `debug_assertions` (debug and test builds), off in
//!   release builds: a library that depends on lockdep never turns validation on in its
//!   dependents' release builds, and a test build never forgets it.
//!
//! And `cfg(lockdep_tasks)`: validation on, the `tokio` feature, and not a loom build (the
//! tokio support is left out of loom's model): the holder of a lock is the tokio task that
//! takes it (`src/holder.rs`).
//!
//! And, with validation on, one cfg per `std::sync` item newer than the crate's minimum Rust
//! that `lockdep::stdsync` mirrors when the compiler's std has it (probed with autocfg):
//! `lockdep_std_rwlock_downgrade` (`RwLockWriteGuard::downgrade`), `lockdep_std_lazy_get`
//! (`LazyLock::get`, `get_mut`, `force_mut`), `lockdep_std_lazy_into_inner`
//! (`LazyLock::into_inner`). Compiled out, `stdsync`'s types are std's and have them anyway.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lockdep_enabled)");
    println!("cargo::rustc-check-cfg=cfg(lockdep_tasks)");
    println!("cargo::rerun-if-changed=build.rs");
    let feature = |name: &str| std::env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
    let debug_assertions = std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_some();
    let on = feature("ENABLED") || (!feature("DISABLED") && debug_assertions);
    if on {
        println!("cargo::rustc-cfg=lockdep_enabled");
    }
    let probes: [(&str, &[&str]); 3] = [
        (
            "lockdep_std_rwlock_downgrade",
            &["std::sync::RwLockWriteGuard::<'static, u8>::downgrade"],
        ),
        (
            "lockdep_std_lazy_get",
            &[
                "std::sync::LazyLock::<u8>::get",
                "std::sync::LazyLock::<u8>::get_mut",
                "std::sync::LazyLock::<u8>::force_mut",
            ],
        ),
        (
            "lockdep_std_lazy_into_inner",
            &["std::sync::LazyLock::<u8>::into_inner"],
        ),
    ];
    for (cfg, _) in probes {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    if on {
        let ac = autocfg::new();
        for (cfg, paths) in probes {
            if paths.iter().all(|path| ac.probe_expression(path)) {
                println!("cargo::rustc-cfg={cfg}");
            }
        }
    }
    let loom = std::env::var_os("CARGO_CFG_LOOM").is_some();
    if on && feature("TOKIO") && !loom {
        println!("cargo::rustc-cfg=lockdep_tasks");
    }
}
