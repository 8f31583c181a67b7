use std::hint::black_box;
use std::time::Instant;
fn main() {
    lockdep::set_mode(lockdep::Mode::Collect);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ls: &'static _ = Box::leak(Box::new(lockdep::Mutex::named("s", 0u64)));
    let pl: &'static _ = Box::leak(Box::new(parking_lot::Mutex::new(0u64)));
    const N: u64 = 20000;
    for (name, f) in [("parking_lot", 0), ("lockdep", 1)] {
        let t = Instant::now();
        rt.block_on(async move {
            let mut hs = Vec::new();
            for _ in 0..2 {
                hs.push(tokio::spawn(async move {
                    for _ in 0..N {
                        if f == 0 {
                            *black_box(pl).lock() += 1
                        } else {
                            *black_box(ls).lock() += 1
                        }
                        tokio::task::yield_now().await;
                    }
                }));
            }
            for h in hs {
                h.await.unwrap();
            }
        });
        println!(
            "{name}: {:.1} ns per task poll with a lock",
            t.elapsed().as_nanos() as f64 / (2 * N) as f64
        );
    }
}
