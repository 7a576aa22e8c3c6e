//! Integration tests of the user-service HTTP API.

fn main() {}
