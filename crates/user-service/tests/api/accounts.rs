//! Trading accounts, sharing and credentials (I25, I28, I29).
