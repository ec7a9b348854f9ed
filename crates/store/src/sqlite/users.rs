use super::*;

pub(super) fn user_from(r: &Row) -> rusqlite::Result<User> {
    Ok(User {
        user_id: r.get("user_id")?,
        email: r.get("email")?,
        name: r.get("name")?,
        password_hash: r.get("password_hash")?,
        blocked: r.get("blocked")?,
        created_at: r.get("created_at")?,
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, u: &User) -> Result<()> {
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO users (user_id, email, name, password_hash, blocked, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![u.user_id, u.email, u.name, u.password_hash, u.blocked, u.created_at])
        })
        .map(drop)
    }

    async fn user(&self, user_id: &str) -> Result<Option<User>> {
        self.run(|c| c.prepare_cached("SELECT * FROM users WHERE user_id = ?1")?.query_row([user_id], user_from).optional())
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
}
