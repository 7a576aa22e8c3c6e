//! The domain: a made-up quote feed. Knows nothing of sockets or authentication.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// One price update.
#[derive(Debug, Clone, Serialize)]
pub struct Quote {
    /// Always `"quote"`, so clients can tell quotes from other messages.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The instrument.
    pub symbol: &'static str,
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// Milliseconds since the epoch.
    pub ts: u64,
}

const SYMBOLS: [(&str, f64); 3] = [("ACME", 101.5), ("GLOBEX", 47.25), ("INITECH", 12.8)];

/// A deterministic random walk over a few symbols.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    step: u64,
}

impl Feed {
    /// The next quote.
    pub fn next_quote(&mut self) -> Quote {
        self.step = self.step.wrapping_add(1);
        let (symbol, base) = SYMBOLS[usize::try_from(self.step % 3).unwrap_or(0)];
        // A cheap xorshift on the step: prices move a little, reproducibly.
        let mut x = self.step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^= x >> 33;
        let wiggle = f64::from(u32::try_from(x % 200).unwrap_or(0)) / 100.0 - 1.0;
        let bid = ((base + wiggle) * 100.0).round() / 100.0;
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        Quote { kind: "quote", symbol, bid, ask: ((bid + 0.05) * 100.0).round() / 100.0, ts }
    }
}
