-- Brute-force protection for password sign-in: attempt counters shared by every node.
-- kind: 'pair' (account and ip), 'ip' (account = ''), 'account' (ip = '').
CREATE TABLE login_attempts (
    kind TEXT NOT NULL,
    account TEXT NOT NULL,
    ip TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (kind, account, ip)
);
CREATE INDEX login_attempts_account ON login_attempts(account, kind);
CREATE INDEX login_attempts_expires ON login_attempts(expires_at);
