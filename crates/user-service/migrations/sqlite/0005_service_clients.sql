-- Service clients (OAuth 2.0 client credentials, RFC 6749 section 4.4). The secret has
-- 256 random bits, so a plain SHA-256 (hex) is a sufficient stored form; it is compared
-- in constant time. Scopes are space separated (RFC 6749 scope tokens hold no spaces).
CREATE TABLE service_clients (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    last_used_at BIGINT
);
