use super::*;

pub(super) fn user_from(r: &PgRow) -> Result<User> {
    Ok(User {
        user_id: r.try_get("user_id").map_err(map_err)?,
        email: r.try_get("email").map_err(map_err)?,
        name: r.try_get("name").map_err(map_err)?,
        password_hash: r.try_get("password_hash").map_err(map_err)?,
        blocked: r.try_get("blocked").map_err(map_err)?,
        created_at: r.try_get("created_at").map_err(map_err)?,
    })
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn insert_user(&self, user: &User) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (user_id, email, name, password_hash, blocked, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.user_id)
        .bind(&user.email)
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.blocked)
        .bind(user.created_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn user(&self, user_id: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE user_id = $1").bind(user_id).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(user_from).transpose()
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE email = $1").bind(email).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(user_from).transpose()
    }

    async fn set_user_blocked(&self, user_id: &str, blocked: bool, now: UnixTime) -> Result<bool> {
        let statements: &[&'static str] = if blocked {
            &[
                "DELETE FROM sessions WHERE user_id = $1",
                "UPDATE families SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                "UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                "UPDATE users SET blocked = TRUE WHERE user_id = $1",
            ]
        } else {
            &["UPDATE users SET blocked = FALSE WHERE user_id = $1"]
        };
        Ok(self.cascade(statements, user_id, now).await? == 1)
    }

    async fn delete_user(&self, user_id: &str, now: UnixTime) -> Result<bool> {
        let deleted = self
            .cascade(
                &[
                    "UPDATE families SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                    "UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                    "DELETE FROM codes WHERE user_id = $1",
                    "DELETE FROM users WHERE user_id = $1",
                ],
                user_id,
                now,
            )
            .await?;
        Ok(deleted == 1)
    }
}
