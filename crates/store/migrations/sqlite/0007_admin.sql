-- Administrators: users who may sign in to the admin console and get Management API tokens.
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
