//! SQL for service clients.

#[allow(unused_imports)]
use super::*;
