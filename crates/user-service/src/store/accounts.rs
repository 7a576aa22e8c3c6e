//! SQL for trading accounts, memberships and encrypted credentials.

#[allow(unused_imports)]
use super::*;
