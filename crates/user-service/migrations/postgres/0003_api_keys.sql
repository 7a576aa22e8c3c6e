-- API keys (I23): only the SHA-256 of a key is stored (looked up by it), with the first
-- characters for display. Permissions are comma-separated, like users.roles; they are
-- a subset of the owner's at creation and intersected with the owner's current ones at
-- every use. Revoking keeps the row (revoked_at), so listings and usage stay readable.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    permissions TEXT NOT NULL,
    trading_account_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT,
    replaced_by TEXT
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at);

-- One row per authenticated use of a key, written in batches off the request path.
CREATE TABLE api_key_usage_logs (
    id TEXT PRIMARY KEY,
    api_key_id TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    ip TEXT,
    route TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX api_key_usage_logs_key_idx ON api_key_usage_logs (api_key_id, created_at);
