-- The role catalog: each role grants a list of permissions (comma-separated, every one
-- from the service's permission catalog). `users.roles` holds role names. System roles
-- come from this migration: `user` (every registered account) may have its permissions
-- changed, `admin` (`*`) may not, and neither can be deleted.
CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    permissions TEXT NOT NULL,
    system BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

INSERT INTO roles (id, name, description, permissions, system, created_at, updated_at) VALUES
    ('00000000-0000-4000-8000-000000000001', 'user',
     'Every registered account: positions and alerts, own API keys and trading accounts',
     'positions:read,alerts:read,alerts:write,api_keys:manage,trading_accounts:read,trading_accounts:write',
     1, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT), CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)),
    ('00000000-0000-4000-8000-000000000002', 'admin',
     'Administrators: every permission',
     '*',
     1, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT), CAST(EXTRACT(EPOCH FROM now()) AS BIGINT));
