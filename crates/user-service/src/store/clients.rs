//! SQL for service clients.

use super::*;

/// A stored service client. The secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone)]
pub(crate) struct ServiceClientRow {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) name: String,
    pub(crate) secret_hash: String,
    pub(crate) scopes: Vec<String>,
    /// The administrator who created it (`None`: the CLI).
    pub(crate) created_by: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) revoked_at: Option<i64>,
    pub(crate) last_used_at: Option<i64>,
}

impl ServiceClientRow {
    pub(crate) fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

// By hand: `scopes` is a space-separated list (see store/mod.rs).
impl FromRow<'_, AnyRow> for ServiceClientRow {
    fn from_row(row: &AnyRow) -> Result<ServiceClientRow> {
        Ok(ServiceClientRow {
            id: row.try_get("id")?,
            client_id: row.try_get("client_id")?,
            name: row.try_get("name")?,
            secret_hash: row.try_get("secret_hash")?,
            scopes: row.try_get::<&str, _>("scopes")?.split_whitespace().map(str::to_owned).collect(),
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
            revoked_at: row.try_get("revoked_at")?,
            last_used_at: row.try_get("last_used_at")?,
        })
    }
}

impl Db {
    /// Inserts a client; `Ok(false)` when the `client_id` is taken.
    pub(crate) async fn insert_service_client(&self, c: &ServiceClientRow) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO service_clients (id, client_id, name, secret_hash, scopes, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&c.id)
        .bind(&c.client_id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(c.scopes.join(" "))
        .bind(c.created_by.as_deref())
        .bind(c.created_at)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The client with this public `client_id` (revoked ones included).
    pub(crate) async fn service_client_by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Option<ServiceClientRow>> {
        sqlx::query_as("SELECT * FROM service_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Every client, oldest first (revoked ones included).
    pub(crate) async fn list_service_clients(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ServiceClientRow>> {
        sqlx::query_as("SELECT * FROM service_clients ORDER BY created_at, id LIMIT $1 OFFSET $2")
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
    }

    /// Revokes the client whose `id` or `client_id` is `id`; `Ok(None)` when there is no
    /// such client, else the row as it is now (revoking twice keeps the first time).
    pub(crate) async fn revoke_service_client(&self, id: &str, now: i64) -> Result<Option<ServiceClientRow>> {
        sqlx::query(
            "UPDATE service_clients SET revoked_at = $2 \
             WHERE (id = $1 OR client_id = $1) AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        sqlx::query_as("SELECT * FROM service_clients WHERE id = $1 OR client_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    pub(crate) async fn touch_service_client(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE service_clients SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
