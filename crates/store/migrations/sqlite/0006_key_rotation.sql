-- Key rotation (docs/security.md, "Key rotation"): when a server key starts being used, and when it
-- was revoked. A revoked key's sealed material is erased; its row stays so `ratchet keys list`
-- shows the history. Keys that existed before rotation was possible were active from creation.
ALTER TABLE server_secrets ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE server_secrets ADD COLUMN revoked_at INTEGER;
UPDATE server_secrets SET activates_at = created_at;
