use super::*;

pub(super) fn user_from(r: &PgRow) -> Result<User> {
    user_with_prefix(r, "")
}

/// A user from columns named `{prefix}user_id`, `{prefix}email`, … (the rotation's join names
/// them `user_*`).
pub(super) fn user_with_prefix(r: &PgRow, prefix: &str) -> Result<User> {
    let col = |name: &str| format!("{prefix}{name}");
    Ok(User {
        user_id: r.try_get(col("user_id").as_str()).map_err(map_err)?,
        email: r.try_get(col("email").as_str()).map_err(map_err)?,
        name: r.try_get(col("name").as_str()).map_err(map_err)?,
        password_hash: r.try_get(col("password_hash").as_str()).map_err(map_err)?,
        blocked: r.try_get(col("blocked").as_str()).map_err(map_err)?,
        admin: r.try_get(col("admin").as_str()).map_err(map_err)?,
        created_at: r.try_get(col("created_at").as_str()).map_err(map_err)?,
        email_verified: r.try_get(col("email_verified").as_str()).map_err(map_err)?,
        user_metadata: from_json(r.try_get(col("user_metadata").as_str()).map_err(map_err)?)?,
        app_metadata: from_json(r.try_get(col("app_metadata").as_str()).map_err(map_err)?)?,
        updated_at: r.try_get(col("updated_at").as_str()).map_err(map_err)?,
        last_login: r.try_get(col("last_login").as_str()).map_err(map_err)?,
        last_ip: r.try_get(col("last_ip").as_str()).map_err(map_err)?,
        logins_count: r.try_get(col("logins_count").as_str()).map_err(map_err)?,
    })
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn insert_user(&self, u: &User) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (user_id, email, name, password_hash, blocked, created_at, email_verified, user_metadata,
                                app_metadata, updated_at, last_login, last_ip, logins_count, admin)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&u.user_id)
        .bind(&u.email)
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(u.blocked)
        .bind(u.created_at)
        .bind(u.email_verified)
        .bind(json(&u.user_metadata))
        .bind(json(&u.app_metadata))
        .bind(u.updated_at)
        .bind(u.last_login)
        .bind(&u.last_ip)
        .bind(u.logins_count)
        .bind(u.admin)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn user(&self, user_id: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE user_id = $1").bind(user_id).fetch_optional(&self.pool).await.map_err(map_err)?;
        row.as_ref().map(user_from).transpose()
    }

    async fn users_by_id(&self, user_ids: &[String]) -> Result<Vec<User>> {
        let rows =
            sqlx::query("SELECT * FROM users WHERE user_id = ANY($1)").bind(user_ids).fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(user_from).collect()
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

    async fn users(&self, filter: &UserFilter, window: &Window) -> Result<(Vec<User>, u64)> {
        // Each condition is skipped when its parameter is NULL (exact matches on unique indexes);
        // the order is the primary key's, so a page is an index range scan.
        macro_rules! matching {
            ($select:literal, $rest:literal) => {
                concat!(
                    $select,
                    " FROM users WHERE ($1::text IS NULL OR email = $1::text) AND ($2::text IS NULL OR user_id = $2::text)",
                    $rest
                )
            };
        }
        let offset = i64::try_from(window.offset).map_err(|_| StoreError::Other("offset out of range".into()))?;
        let rows = sqlx::query(matching!("SELECT *", " AND ($5::text IS NULL OR user_id > $5::text) ORDER BY user_id LIMIT $3 OFFSET $4"))
            .bind(&filter.email)
            .bind(&filter.user_id)
            .bind(i64::from(window.limit))
            .bind(offset)
            .bind(&window.after)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        let total: i64 = sqlx::query_scalar(matching!("SELECT count(*)", ""))
            .bind(&filter.email)
            .bind(&filter.user_id)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let users = rows.iter().map(user_from).collect::<Result<Vec<_>>>()?;
        Ok((users, total as u64))
    }

    async fn update_user(&self, u: &User) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE users SET email = $2, name = $3, password_hash = $4, email_verified = $5, user_metadata = $6,
               app_metadata = $7, updated_at = $8, admin = $9
             WHERE user_id = $1",
        )
        .bind(&u.user_id)
        .bind(&u.email)
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(u.email_verified)
        .bind(json(&u.user_metadata))
        .bind(json(&u.app_metadata))
        .bind(u.updated_at)
        .bind(u.admin)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn record_login(&self, user_id: &str, now: UnixTime, ip: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE users SET last_login = $2, last_ip = $3, logins_count = logins_count + 1 WHERE user_id = $1")
            .bind(user_id)
            .bind(now)
            .bind(ip)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
