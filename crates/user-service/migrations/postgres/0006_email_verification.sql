-- Email verification and the email uniqueness key (issue 12, item 5).
--
-- `email_key` is NFKC + case folding + the UTS #39 confusables skeleton of `email`, which
-- SQL cannot compute: the service fills it for existing rows right after migrating
-- (`Db::migrate`). Rows whose keys collide keep NULL (NULLs do not clash in a unique
-- index) and are reported at every start, never merged.
ALTER TABLE users ADD COLUMN email_key TEXT;
-- When the owner proved the address (NULL: never; accounts from before this migration
-- included).
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
CREATE UNIQUE INDEX users_email_key_idx ON users (email_key);

-- Single-use verification links: only the SHA-256 of the token is stored.
CREATE TABLE email_verifications (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX email_verifications_user_idx ON email_verifications (user_id);
