//! API keys (I23-I25).
