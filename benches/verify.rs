//! Verification benchmarks.
fn main() {}
