//! The smallest lock-order inversion: one thread takes A then B, later B then A.
//! Run with `cargo run --example abba` to see the kernel-style report.

use lockdep::Mutex;

fn main() {
    let a = Mutex::named("A", 0);
    let b = Mutex::named("B", 0);
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let t = std::thread::Builder::new()
        .name("worker".into())
        .spawn(move || {
            let _b = b.lock();
            let _a = a.lock(); // B -> A: reported here, before it could ever hang
        })
        .unwrap();
    t.join().unwrap();
}
