-- Key rotation: the same columns and meaning as migrations/sqlite/0006_key_rotation.sql.
ALTER TABLE server_secrets ADD COLUMN activates_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE server_secrets ADD COLUMN revoked_at BIGINT;
UPDATE server_secrets SET activates_at = created_at;
