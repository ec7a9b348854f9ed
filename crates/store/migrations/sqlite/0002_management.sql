-- The control plane (Management API): user profile fields, sessions addressable by their public
-- id (`sid`) with device data, refresh-token families with device data, client grants, and the
-- indexes listing and filtering need (the same set as the PostgreSQL schema).
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN user_metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN app_metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN updated_at INTEGER;
ALTER TABLE users ADD COLUMN last_login INTEGER;
ALTER TABLE users ADD COLUMN last_ip TEXT;
ALTER TABLE users ADD COLUMN logins_count INTEGER NOT NULL DEFAULT 0;

ALTER TABLE sessions ADD COLUMN sid TEXT;
ALTER TABLE sessions ADD COLUMN created_at INTEGER;
ALTER TABLE sessions ADD COLUMN last_interacted_at INTEGER;
ALTER TABLE sessions ADD COLUMN initial_ip TEXT;
ALTER TABLE sessions ADD COLUMN initial_user_agent TEXT;
ALTER TABLE sessions ADD COLUMN last_ip TEXT;
ALTER TABLE sessions ADD COLUMN last_user_agent TEXT;
CREATE UNIQUE INDEX sessions_sid ON sessions(sid);
CREATE INDEX sessions_user_sid ON sessions(user_id, sid);

ALTER TABLE families ADD COLUMN initial_ip TEXT;
ALTER TABLE families ADD COLUMN initial_user_agent TEXT;
ALTER TABLE families ADD COLUMN last_ip TEXT;
ALTER TABLE families ADD COLUMN last_user_agent TEXT;
ALTER TABLE families ADD COLUMN last_exchanged_at INTEGER;
CREATE INDEX families_user ON families(user_id, family_id);
CREATE INDEX families_client ON families(client_id);

CREATE TABLE client_grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    audience TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (client_id, audience)
);
CREATE INDEX client_grants_audience ON client_grants(audience);

ALTER TABLE events ADD COLUMN ip TEXT;
ALTER TABLE events ADD COLUMN user_agent TEXT;
CREATE INDEX events_at ON events(at);
CREATE INDEX events_client ON events(client_id);

CREATE INDEX grants_client ON grants(client_id);
CREATE INDEX codes_user ON codes(user_id);
CREATE INDEX codes_client ON codes(client_id);
CREATE INDEX codes_expires ON codes(expires_at);
