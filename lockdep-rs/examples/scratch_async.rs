use std::hint::black_box;
use std::time::Instant;
fn main() {
    lockdep::set_mode(lockdep::Mode::Collect);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let tk: &'static _ = Box::leak(Box::new(tokio::sync::Mutex::new(0u64)));
    let ld: &'static _ = Box::leak(Box::new(lockdep::tokio::Mutex::named("x", 0u64)));
    let pl: &'static _ = Box::leak(Box::new(parking_lot::Mutex::new(0u64)));
    let ls: &'static _ = Box::leak(Box::new(lockdep::Mutex::named("s", 0u64)));
    let (la, lb): (&'static _, &'static _) = (
        Box::leak(Box::new(lockdep::Mutex::named("a", 0u64))),
        Box::leak(Box::new(lockdep::Mutex::named("b", 0u64))),
    );
    let (pa, pb): (&'static _, &'static _) = (
        Box::leak(Box::new(parking_lot::Mutex::new(0u64))),
        Box::leak(Box::new(parking_lot::Mutex::new(0u64))),
    );
    const N: u64 = 20000;
    let mut best = [f64::MAX; 4];
    rt.block_on(async move {
        tokio::spawn(async move {
            for _round in 0..300 {
                let t = Instant::now();
                for _ in 0..N { *black_box(tk).lock().await += 1; }
                best[0] = best[0].min(t.elapsed().as_nanos() as f64 / N as f64);
                let t = Instant::now();
                for _ in 0..N { *black_box(ld).lock().await += 1; }
                best[1] = best[1].min(t.elapsed().as_nanos() as f64 / N as f64);
                let t = Instant::now();
                for _ in 0..N { *black_box(pl).lock() += 1; }
                best[2] = best[2].min(t.elapsed().as_nanos() as f64 / N as f64);
                let t = Instant::now();
                for _ in 0..N { *black_box(ls).lock() += 1; }
                best[3] = best[3].min(t.elapsed().as_nanos() as f64 / N as f64);
            }
            println!("in task: tokio {:.1} lockdep {:.1} ratio {:.2} | sync pl {:.1} lockdep {:.1} ratio {:.2}", best[0], best[1], best[1]/best[0], best[2], best[3], best[3]/best[2]);
        }).await.unwrap();
    });
    // outside tasks
    let mut b = [f64::MAX; 4];
    for _ in 0..300 {
        let t = Instant::now();
        for _ in 0..N {
            *black_box(pl).lock() += 1;
        }
        b[0] = b[0].min(t.elapsed().as_nanos() as f64 / N as f64);
        let t = Instant::now();
        for _ in 0..N {
            *black_box(ls).lock() += 1;
        }
        b[1] = b[1].min(t.elapsed().as_nanos() as f64 / N as f64);
        let t = Instant::now();
        for _ in 0..N {
            let mut x = black_box(pa).lock();
            *black_box(pb).lock() += 1;
            *x += 1;
        }
        b[2] = b[2].min(t.elapsed().as_nanos() as f64 / N as f64);
        let t = Instant::now();
        for _ in 0..N {
            let mut x = black_box(la).lock();
            *black_box(lb).lock() += 1;
            *x += 1;
        }
        b[3] = b[3].min(t.elapsed().as_nanos() as f64 / N as f64);
    }
    println!("outside: single pl {:.1} lockdep {:.1} ratio {:.2} | nested pl {:.1} lockdep {:.1} ratio {:.2}", b[0], b[1], b[1]/b[0], b[2], b[3], b[3]/b[2]);
}
