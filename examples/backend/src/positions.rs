//! The domain: a user's positions. Knows nothing of HTTP or authentication.

use serde::Serialize;

/// One holding.
#[derive(Debug, Clone, Serialize)]
pub struct Position {
    /// The instrument.
    pub symbol: &'static str,
    /// How many units.
    pub quantity: i64,
}

/// The positions of `user_id` (a fixed demo book).
pub fn of_user(user_id: &str) -> Vec<Position> {
    let _ = user_id;
    vec![Position { symbol: "ACME", quantity: 100 }, Position { symbol: "GLOBEX", quantity: -20 }]
}
