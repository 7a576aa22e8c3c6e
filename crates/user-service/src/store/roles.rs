//! SQL for the role catalog.

#[allow(unused_imports)]
use super::*;
