-- Administrators: users who may sign in to the admin console and get Management API tokens.
ALTER TABLE users ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE;
