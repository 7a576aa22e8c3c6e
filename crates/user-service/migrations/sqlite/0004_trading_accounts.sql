-- Trading accounts, their members, and the master-key versions that encrypt broker
-- credentials. Times are Unix seconds (BIGINT); ids are UUID strings.

-- Data keys for master-key versions 2, 3, ...: 32 random bytes each, wrapped (AES-256-GCM)
-- by the env master key as a `v1:` ciphertext bound to "master-key-version:{n}".
-- Version 1 has no row: it is the env master key itself, so `v1:` ciphertexts written
-- before any rotation keep decrypting. The highest version encrypts new writes.
CREATE TABLE master_key_versions (
    version BIGINT PRIMARY KEY,
    wrapped_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- credentials_enc: `v{n}:` + base64(nonce || AES-256-GCM(JSON credentials) || tag), the
-- account id as associated data. credentials_hint: the masked values (last 4 characters
-- at most) that responses show, so listing accounts never decrypts.
CREATE TABLE trading_accounts (
    id TEXT PRIMARY KEY,
    broker TEXT NOT NULL,
    label TEXT NOT NULL,
    broker_user_id TEXT NOT NULL,
    subscription_tier TEXT NOT NULL DEFAULT 'free',
    credentials_enc TEXT NOT NULL,
    credentials_hint TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- role: owner | trader | viewer. Every account keeps at least one owner.
CREATE TABLE trading_account_memberships (
    account_id TEXT NOT NULL REFERENCES trading_accounts(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX trading_account_memberships_user_idx ON trading_account_memberships (user_id);
