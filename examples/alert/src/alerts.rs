//! Price alerts: the domain, knowing nothing of HTTP. Stored in memory.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// What a user asks to be alerted about.
#[derive(Debug, Clone, Deserialize)]
pub struct NewAlert {
    /// The instrument, e.g. `AAPL`.
    pub symbol: String,
    /// When to fire, e.g. `above` or `below`.
    pub condition: String,
    /// The threshold price.
    pub price: f64,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Unique id.
    pub id: u64,
    /// The owner: the `sub` of the token that created it.
    pub user_id: String,
    /// The instrument.
    pub symbol: String,
    /// When to fire.
    pub condition: String,
    /// The threshold price.
    pub price: f64,
}

/// Why a new alert was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AlertError {
    /// The symbol is empty or too long.
    #[error("symbol must be 1 to 16 characters")]
    Symbol,
    /// The condition is empty or too long.
    #[error("condition must be 1 to 64 characters")]
    Condition,
    /// The price is not a finite positive number.
    #[error("price must be a positive number")]
    Price,
}

/// All alerts, each visible only to its owner.
#[derive(Debug, Default)]
pub struct AlertStore {
    next_id: AtomicU64,
    alerts: Mutex<BTreeMap<u64, Alert>>,
}

impl AlertStore {
    /// An empty store.
    pub fn new() -> AlertStore {
        AlertStore::default()
    }

    /// Stores an alert owned by `user_id`.
    pub fn create(&self, user_id: &str, new: NewAlert) -> Result<Alert, AlertError> {
        let symbol = new.symbol.trim();
        if symbol.is_empty() || symbol.chars().count() > 16 {
            return Err(AlertError::Symbol);
        }
        let condition = new.condition.trim();
        if condition.is_empty() || condition.chars().count() > 64 {
            return Err(AlertError::Condition);
        }
        if !new.price.is_finite() || new.price <= 0.0 {
            return Err(AlertError::Price);
        }
        let alert = Alert {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            user_id: user_id.to_owned(),
            symbol: symbol.to_owned(),
            condition: condition.to_owned(),
            price: new.price,
        };
        self.lock().insert(alert.id, alert.clone());
        Ok(alert)
    }

    /// The alerts of `user_id`, oldest first.
    pub fn list(&self, user_id: &str) -> Vec<Alert> {
        self.lock().values().filter(|a| a.user_id == user_id).cloned().collect()
    }

    /// Deletes alert `id` if `user_id` owns it. Someone else's alert is reported as
    /// absent, so ids of other users' alerts cannot be probed.
    pub fn delete(&self, user_id: &str, id: u64) -> bool {
        let mut alerts = self.lock();
        match alerts.get(&id) {
            Some(alert) if alert.user_id == user_id => alerts.remove(&id).is_some(),
            _ => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Alert>> {
        // A panic while holding the lock cannot leave a half-written map behind.
        self.alerts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(symbol: &str, price: f64) -> NewAlert {
        NewAlert { symbol: symbol.into(), condition: "above".into(), price }
    }

    #[test]
    fn owners_see_and_delete_only_their_alerts() {
        let store = AlertStore::new();
        let a = store.create("alice", new("AAPL", 200.0)).unwrap();
        store.create("bob", new("MSFT", 400.0)).unwrap();
        assert_eq!(store.list("alice"), vec![a.clone()]);
        assert!(!store.delete("bob", a.id));
        assert!(store.delete("alice", a.id));
        assert!(store.list("alice").is_empty());
    }

    #[test]
    fn invalid_alerts_are_refused() {
        let store = AlertStore::new();
        assert_eq!(store.create("u", new(" ", 1.0)), Err(AlertError::Symbol));
        assert_eq!(store.create("u", new("AAPL", f64::NAN)), Err(AlertError::Price));
        assert_eq!(store.create("u", new("AAPL", -1.0)), Err(AlertError::Price));
    }
}
