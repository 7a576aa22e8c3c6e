//! SQL for aPI keys and their usage logs.

#[allow(unused_imports)]
use super::*;
