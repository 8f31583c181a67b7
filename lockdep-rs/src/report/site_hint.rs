//! The hint a recursive-locking report gives when two distinct locks built by one
//! `Mutex::new` call nest: most often that call sits in a helper (a constructor wrapper), which
//! makes every lock it builds one class. The report names the helper, read off the source
//! file (when it can be found from the working directory), and says the one-line fix.

use std::path::{Path, PathBuf};

/// The hint for two locks of the class built at `file:line:column`.
pub(crate) fn one_site_many_locks(file: &str, line: u32, column: u32) -> String {
    if in_closure(file, line, column) {
        return format!(
            "Both locks were built by one `new` call in a closure, at {file}:{line}, so they are\n\
             one class (a closure takes no `#[track_caller]`). If they are different kinds of lock,\n\
             build each at a site of its own, or give them names (`Mutex::named`) or classes\n\
             (`Mutex::with_class`). If they are two locks of one kind nested on purpose (shards,\n\
             a `Vec` or map of locks), say so: `lock_nested(1)` for the inner one, or\n\
             `lock_nest_lock(&outer_guard)`; in code switched over unchanged,\n\
             LOCKDEP_CLASSES=lenient checks their order per instance instead."
        );
    }
    let helper = enclosing_fn(file, line);
    let at = match &helper {
        Some(name) => format!("in `fn {name}`, at {file}:{line}"),
        None => format!("at {file}:{line}"),
    };
    let fix = match &helper {
        Some(name) => format!("put `#[track_caller]` on `fn {name}`"),
        None => "if that call is in a helper function, put `#[track_caller]` on it".to_string(),
    };
    format!(
        "Both locks were built by one `new` call {at}, so they are one class. If they are\n\
         different kinds of lock (a constructor helper builds them all): {fix}, so that\n\
         each caller's site is the class; or give them names (`Mutex::named`) or classes\n\
         (`Mutex::with_class`). If they are two locks of one kind nested on purpose, say so:\n\
         `lock_nested(1)` for the inner one, or `lock_nest_lock(&outer_guard)`."
    )
}

/// The hint for a cycle through a class that stands for several locks, built at `file:line`
/// (`made`: by `Default` / `From` there): the cycle may join different locks of the class.
pub(crate) fn shared_class(
    class: &str,
    (file, line, column): (&str, u32, u32),
    made: Option<crate::class::Maker>,
) -> String {
    if crate::class::in_std(file) {
        return format!(
            "{class}:\n\
             every lock of this type built inside the standard library there is this class (by\n\
             `.map(Mutex::new)`, `or_default()`, or `Arc::default()`, which builds the\n\
             `Arc<Mutex<T>>` fields of a `#[derive(Default)]` struct), and several were alive at\n\
             once. If this cycle joins different ones in different roles, build them in code of\n\
             yours, with names (`.map(|v| Mutex::named(\"…\", v))`; in a hand-written `Default`,\n\
             `Arc::new(Mutex::named(\"…\", T::default()))`). If they are interchangeable, the\n\
             cycle can happen."
        );
    }
    if made.is_some() {
        return format!(
            "{class}:\n\
             every lock of this type built there (e.g. the fields of one `#[derive(Default)]`)\n\
             is this class, and several were alive at once. If this cycle joins different\n\
             ones in different roles, build them with classes instead (`Mutex::named` in a\n\
             hand-written `Default`, or in place of `or_default()`). If they are\n\
             interchangeable, the cycle can happen."
        );
    }
    if in_closure(file, line, column) {
        return format!(
            "{class}:\n\
             every lock built by the `new` call in a closure at {file}:{line} is this class, and\n\
             several were alive at once. If this cycle joins different ones in different roles,\n\
             build each at a site of its own (a closure takes no `#[track_caller]`), or give them\n\
             names (`Mutex::named`). If they are interchangeable, the cycle can happen."
        );
    }
    let fix = match enclosing_fn(file, line) {
        Some(name) => format!("put `#[track_caller]` on `fn {name}` (it holds that call)"),
        None => "if that call is in a helper function, put `#[track_caller]` on it".to_string(),
    };
    format!(
        "{class}:\n\
         every lock built by the `new` call at {file}:{line} is this class, and several were\n\
         alive at once. If this cycle joins different ones in different roles:\n\
         {fix}, so that each caller's site is the class,\n\
         or give them names (`Mutex::named`). If they are interchangeable, the cycle can happen."
    )
}

/// Is the call at `file:line:column` in a closure written on its line (`|_| Mutex::new(..)`,
/// `or_insert_with(|| ..)`), as far as the source can be read? Then `#[track_caller]` on the
/// enclosing `fn` would not move the class to its callers.
fn in_closure(file: &str, line: u32, column: u32) -> bool {
    let Some(text) = candidates(file).find_map(|p| std::fs::read_to_string(p).ok()) else {
        return false;
    };
    let Some(code) = text.lines().nth((line as usize).saturating_sub(1)) else {
        return false;
    };
    let before: String = code
        .chars()
        .take((column as usize).saturating_sub(1))
        .collect();
    closure_opens(&before)
}

/// Does this code (a line up to a call) open a closure: a `|` that is not in a comment,
/// a string or a `||` / `|=` operator between operands (`a || b`)? A closure's parameter
/// list follows `(`, `,`, `=`, `move` or the line's start; `||` of a closure without
/// parameters too.
fn closure_opens(code: &str) -> bool {
    let code = code.split("//").next().unwrap_or("");
    let bytes = code.as_bytes();
    let mut in_str = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => in_str = !in_str,
            b'|' if !in_str => {
                let prev = code[..i].trim_end();
                let opens = prev.is_empty()
                    || prev.ends_with(['(', ',', '=', '{', '['])
                    || prev.ends_with("move")
                    || prev.ends_with("return");
                if opens && !prev.ends_with("==") && bytes.get(i + 1) != Some(&b'=') {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// The name of the `fn` whose body holds `file:line`, if the source can be read.
fn enclosing_fn(file: &str, line: u32) -> Option<String> {
    let text = candidates(file).find_map(|p| std::fs::read_to_string(p).ok())?;
    text.lines()
        .take(line as usize)
        .filter_map(fn_name)
        .last()
        .map(str::to_string)
}

/// Where `file` (as `Location::file()` gives it: relative to the workspace or the package)
/// may be found from here.
fn candidates(file: &str) -> impl Iterator<Item = PathBuf> + '_ {
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        roots.extend(Path::new(&dir).ancestors().map(Path::to_path_buf));
    }
    roots.into_iter().map(move |r| r.join(file))
}

/// `fn name` declared on this line, if any.
fn fn_name(line: &str) -> Option<&str> {
    let code = line.split("//").next()?;
    let at = code.find("fn ")?;
    if at > 0 && !code[..at].ends_with(|c: char| c.is_whitespace()) {
        return None;
    }
    let rest = &code[at + 3..];
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::{closure_opens, fn_name};

    #[test]
    fn finds_closures_opened_on_the_line() {
        assert!(closure_opens("    let v: Vec<_> = (0..4).map(|_| "));
        assert!(closure_opens("        .or_insert_with(|| Arc::new("));
        assert!(closure_opens("    let mk = move || "));
        assert!(closure_opens("    let mk = |v: u32| "));
        assert!(!closure_opens("    let ok = a || "));
        assert!(!closure_opens("    x |= "));
        assert!(!closure_opens("    let s = \"(|\"; let m = "));
        assert!(!closure_opens("    Self { a: "));
        assert!(!closure_opens("    // (|_| x) "));
    }

    #[test]
    fn finds_function_names() {
        assert_eq!(
            fn_name("pub fn shared<T>(v: T) -> Arc<Mutex<T>> {"),
            Some("shared")
        );
        assert_eq!(fn_name("    fn new() -> Self {"), Some("new"));
        assert_eq!(fn_name("    let f = |x| x; // fn not"), None);
        assert_eq!(fn_name("let defn = 3;"), None);
    }
}
