//! Per-request cost of authentication without the network: runs one scenario of
//! `benches/support/stacks.rs` a fixed number of times in one thread, for
//! `valgrind --tool=callgrind`, whose instruction counts repeat on a busy machine where
//! wrk numbers do not.
//!
//! ```text
//! cargo build --release -p example-backend --example request_loop
//! valgrind --tool=callgrind --toggle-collect='*request_loop*measured*' \
//!     target/release/examples/request_loop layer-auth 20000
//! ```
//!
//! `--toggle-collect` counts only the measured loop (not the set-up, nor the warm-up
//! request that verifies the token once); divide the collected `Ir` by the count.
//! Scenarios: `layer-none`, `layer-auth`, `health`, `health-hdr`, `me`.
//! `benches/callgrind.sh` runs them all and prints the ratios.
//!
//! Without valgrind it prints the wall time per request (a rough figure).

use std::time::Instant;

#[path = "../../../benches/support/stacks.rs"]
mod stacks;

use stacks::{Scenario, Stacks};

/// The loop callgrind counts (see `--toggle-collect` above).
#[inline(never)]
fn measured(runtime: &tokio::runtime::Runtime, stacks: &Stacks, scenario: Scenario, n: usize) -> usize {
    runtime.block_on(stacks.run(scenario, n))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: request_loop layer-none|layer-auth|health|health-hdr|me [count]";
    let scenario = args.next().and_then(|a| Scenario::parse(&a)).ok_or(usage)?;
    let n: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(20_000);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let stacks = Stacks::new()?;
    if !runtime.block_on(stacks.warm_up()) {
        return Err("a warm-up request was not answered 200".into());
    }
    let started = Instant::now();
    let ok = measured(&runtime, &stacks, scenario, n);
    let elapsed = started.elapsed();
    if ok != n {
        return Err(format!("{} of {n} requests were not answered 200", n - ok).into());
    }
    let per_request = elapsed.as_nanos() / n.max(1) as u128;
    eprintln!("{}: {n} requests, {per_request} ns/request", scenario.name());
    Ok(())
}
