use super::*;

pub(super) fn user_from(r: &Row) -> rusqlite::Result<User> {
    Ok(User {
        user_id: r.get("user_id")?,
        email: r.get("email")?,
        name: r.get("name")?,
        password_hash: r.get("password_hash")?,
        blocked: r.get("blocked")?,
        admin: r.get("admin")?,
        created_at: r.get("created_at")?,
        email_verified: r.get("email_verified")?,
        user_metadata: from_json(&r.get::<_, String>("user_metadata")?)?,
        app_metadata: from_json(&r.get::<_, String>("app_metadata")?)?,
        updated_at: r.get("updated_at")?,
        last_login: r.get("last_login")?,
        last_ip: r.get("last_ip")?,
        logins_count: r.get("logins_count")?,
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, u: &User) -> Result<()> {
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO users (user_id, email, name, password_hash, blocked, created_at, email_verified, user_metadata,
                                    app_metadata, updated_at, last_login, last_ip, logins_count, admin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                u.user_id,
                u.email,
                u.name,
                u.password_hash,
                u.blocked,
                u.created_at,
                u.email_verified,
                json(&u.user_metadata),
                json(&u.app_metadata),
                u.updated_at,
                u.last_login,
                u.last_ip,
                u.logins_count,
                u.admin
            ])
        })
        .map(drop)
    }

    async fn user(&self, user_id: &str) -> Result<Option<User>> {
        self.run(|c| c.prepare_cached("SELECT * FROM users WHERE user_id = ?1")?.query_row([user_id], user_from).optional())
    }

    async fn users_by_id(&self, user_ids: &[String]) -> Result<Vec<User>> {
        // In-process: one prepared lookup per id costs less than building an IN list.
        self.run(|c| {
            let mut stmt = c.prepare_cached("SELECT * FROM users WHERE user_id = ?1")?;
            let mut found = Vec::with_capacity(user_ids.len());
            for id in user_ids {
                if let Some(u) = stmt.query_row([id], user_from).optional()? {
                    found.push(u);
                }
            }
            Ok(found)
        })
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        self.run(|c| c.prepare_cached("SELECT * FROM users WHERE email = ?1")?.query_row([email], user_from).optional())
    }

    async fn set_user_blocked(&self, user_id: &str, blocked: bool, now: UnixTime) -> Result<bool> {
        let statements: &'static [&'static str] = if blocked {
            &[
                "DELETE FROM sessions WHERE user_id = ?1",
                "UPDATE families SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                "UPDATE grants SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                "UPDATE users SET blocked = 1 WHERE user_id = ?1",
            ]
        } else {
            &["UPDATE users SET blocked = 0 WHERE user_id = ?1"]
        };
        Ok(self.cascade(statements, user_id, now).await? == 1)
    }

    async fn delete_user(&self, user_id: &str, now: UnixTime) -> Result<bool> {
        let deleted = self
            .cascade(
                &[
                    "UPDATE families SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                    "UPDATE grants SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                    "DELETE FROM codes WHERE user_id = ?1",
                    "DELETE FROM users WHERE user_id = ?1",
                ],
                user_id,
                now,
            )
            .await?;
        Ok(deleted == 1)
    }

    async fn users(&self, filter: &UserFilter, window: &Window) -> Result<(Vec<User>, u64)> {
        // Each condition is skipped when its parameter is NULL; the email and id conditions are
        // exact matches on unique indexes, the order is the primary key's.
        const WHERE: &str = "(?1 IS NULL OR email = ?1) AND (?2 IS NULL OR user_id = ?2)";
        let (f, w) = (filter.clone(), window.clone());
        self.run(move |c| {
            let total: i64 = c
                .prepare_cached(&format!("SELECT count(*) FROM users WHERE {WHERE}"))?
                .query_row(params![f.email, f.user_id], |r| r.get(0))?;
            let users = c
                .prepare_cached(&format!(
                    "SELECT * FROM users WHERE {WHERE} AND (?5 IS NULL OR user_id > ?5) ORDER BY user_id LIMIT ?3 OFFSET ?4"
                ))?
                .query_map(params![f.email, f.user_id, w.limit, w.offset as i64, w.after], user_from)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((users, total as u64))
        })
    }

    async fn update_user(&self, u: &User) -> Result<bool> {
        self.run(|c| {
            c.prepare_cached(
                "UPDATE users SET email = ?2, name = ?3, password_hash = ?4, email_verified = ?5, user_metadata = ?6,
                   app_metadata = ?7, updated_at = ?8, admin = ?9
                 WHERE user_id = ?1",
            )?
            .execute(params![
                u.user_id,
                u.email,
                u.name,
                u.password_hash,
                u.email_verified,
                json(&u.user_metadata),
                json(&u.app_metadata),
                u.updated_at,
                u.admin
            ])
        })
        .map(|n| n == 1)
    }

    async fn record_login(&self, user_id: &str, now: UnixTime, ip: Option<&str>) -> Result<()> {
        self.run(|c| {
            c.prepare_cached("UPDATE users SET last_login = ?2, last_ip = ?3, logins_count = logins_count + 1 WHERE user_id = ?1")?
                .execute(params![user_id, now, ip])
        })
        .map(drop)
    }
}
