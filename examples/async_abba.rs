//! An async lock-order inversion between two tokio tasks, found without hanging: one task
//! takes A then B, a later one B then A (each yields while holding its first lock, so both
//! may move between the runtime's two workers). The second acquisition closes the cycle and is
//! reported — naming both tasks and where they were spawned — before it waits. Run with
//! `cargo run --example async_abba`.

use std::sync::Arc;

use lockdep::tokio::Mutex;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = Arc::new(Mutex::named("A", 0));
    let b = Arc::new(Mutex::named("B", 0));

    let (a1, b1) = (a.clone(), b.clone());
    lockdep::tokio::spawn(async move {
        let _a = a1.lock().await;
        tokio::task::yield_now().await;
        let _b = b1.lock().await; // A -> B
    })
    .await
    .unwrap();

    let (a2, b2) = (a.clone(), b.clone());
    lockdep::tokio::spawn(async move {
        let _b = b2.lock().await;
        tokio::task::yield_now().await;
        let _a = a2.lock().await; // B -> A: reported here, before it could ever hang
    })
    .await
    .unwrap();

    // Both tasks finished: with these two running at once, each could have waited forever for
    // the other. In the default `Warn` mode the report is on stderr; `LOCKDEP=panic` would
    // have panicked the second task instead.
    println!("done: both tasks finished; lockdep's report is above (stderr)");
}
