-- DPoP (RFC 9449): the key a refresh-token family is bound to, and the shared proof replay cache.
ALTER TABLE families ADD COLUMN jkt TEXT;

CREATE TABLE dpop_proofs (
    replay_key TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_proofs_expires ON dpop_proofs(expires_at);
