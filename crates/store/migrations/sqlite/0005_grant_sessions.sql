-- The session a grant was authorized in: ending the session with its tokens revokes the grant,
-- and so the access tokens minted from it, even when it has no refresh-token family.
ALTER TABLE grants ADD COLUMN session_id TEXT;
CREATE INDEX grants_session ON grants(session_id);
