//! Per-request wall time of authentication, without the network: the stacks of
//! `benches/support/stacks.rs` driven with `oneshot` (a bare tower stack with and without
//! `AuthLayer`, and the `example-backend` router on `/health` and `/api/me`), with one
//! token served from the verified-token cache.
//!
//! Run: `cargo bench -p example-backend --bench requests`. For numbers that repeat on a
//! busy machine use the instruction counts of `benches/callgrind.sh` instead.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "support/stacks.rs"]
mod stacks;

use stacks::{Scenario, Stacks};

fn requests(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let stacks = Stacks::new().expect("stacks");
    assert!(runtime.block_on(stacks.warm_up()), "a warm-up request failed");
    let mut group = c.benchmark_group("request");
    for scenario in Scenario::ALL {
        group.bench_function(scenario.name(), |b| {
            b.iter(|| assert_eq!(black_box(runtime.block_on(stacks.run(scenario, 1))), 1))
        });
    }
    group.finish();
}

criterion_group!(benches, requests);
criterion_main!(benches);
