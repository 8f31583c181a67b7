//! With validation compiled out, a `LOCKDEP` variable would otherwise be a silent no-op: the
//! user asked for checks and gets none. A function run once at program start (before `main`,
//! so locks pay nothing for it) says so on stderr.

/// Prints, once, that `LOCKDEP` is set but this build has no validation (unless it asks for
/// none: `LOCKDEP=off` gets what it asked for, and saying so in every test process of a run
/// would be noise).
extern "C" fn warn_if_lockdep_set() {
    if let Some(value) = std::env::var_os("LOCKDEP") {
        if value.to_string_lossy().trim().eq_ignore_ascii_case("off") {
            return;
        }
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "lockdep: LOCKDEP={} is set, but validation is compiled out of this build \
             (a release build without lockdep's `enabled` feature, or the `disabled` \
             feature): no lock order is checked",
            value.to_string_lossy()
        );
    }
}

/// Registered as a static constructor of the binary (ELF `.init_array`, Mach-O
/// `__mod_init_func`, PE `.CRT$XCU`): it runs once, before `main`, in every program that links
/// this build of lockdep.
#[used]
#[allow(unsafe_code)] // `link_section` is all the constructor needs; no unsafe code runs
#[cfg_attr(
    any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "illumos"
    ),
    link_section = ".init_array"
)]
#[cfg_attr(target_vendor = "apple", link_section = "__DATA,__mod_init_func")]
#[cfg_attr(target_os = "windows", link_section = ".CRT$XCU")]
static WARN_IF_LOCKDEP_SET: extern "C" fn() = warn_if_lockdep_set;
