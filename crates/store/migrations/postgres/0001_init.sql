-- Ratchet schema (PostgreSQL). The same tables and meaning as migrations/sqlite/0001_init.sql:
-- times are BIGINT unix seconds, ids TEXT, sealed secrets BYTEA, flags BOOLEAN. Secrets appear
-- only as SHA-256 hashes or sealed under the master key.
CREATE TABLE server_secrets (
    kind TEXT NOT NULL,
    kid SMALLINT NOT NULL CHECK (kid BETWEEN 0 AND 255),
    sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, kid)
);

CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    secret_hash TEXT,
    data TEXT NOT NULL
);

CREATE TABLE apis (
    id TEXT PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL
);

CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
    auth_time BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE grants (
    grant_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_user ON grants(user_id);
CREATE INDEX grants_client ON grants(client_id);

CREATE TABLE codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    scope TEXT NOT NULL,
    audience TEXT,
    nonce TEXT,
    auth_time BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX codes_user ON codes(user_id);
CREATE INDEX codes_client ON codes(client_id);
CREATE INDEX codes_expires ON codes(expires_at);

CREATE TABLE families (
    family_id TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    session_id TEXT,
    audience TEXT,
    scope TEXT NOT NULL,
    rotating BOOLEAN NOT NULL,
    counter BIGINT NOT NULL CHECK (counter >= 0),
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    idle_expires_at BIGINT,
    rotated_at BIGINT NOT NULL,
    revoked_at BIGINT,
    auth_time BIGINT NOT NULL
);
CREATE INDEX families_user_client ON families(user_id, client_id);
CREATE INDEX families_client ON families(client_id);
CREATE INDEX families_session ON families(session_id);
CREATE INDEX families_grant ON families(grant_id);

CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    type TEXT NOT NULL,
    client_id TEXT,
    user_id TEXT,
    description TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX events_type ON events(type);
CREATE INDEX events_user ON events(user_id);
