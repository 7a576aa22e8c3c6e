//! SQL for the values sealed directly with the env master key, whichever table holds them.

use super::*;

/// Which column an env-sealed value lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvSealedColumn {
    SigningKey,
    TotpSecret,
    TotpPending,
}

/// A value sealed directly with the env master key, and the row it belongs to (its
/// associated data).
#[derive(Debug, Clone)]
pub(crate) struct EnvSealed {
    pub(crate) column: EnvSealedColumn,
    pub(crate) id: String,
    pub(crate) value: String,
}

impl Db {
    /// Every value sealed directly with the env master key (`v1:`), as
    /// `(table, column, row id, ciphertext)`: private signing keys (associated data: the
    /// kid) and TOTP secrets (the user id).
    pub(crate) async fn env_sealed_values(&self) -> Result<Vec<EnvSealed>> {
        let keys: Vec<(String, String)> =
            sqlx::query_as("SELECT kid, private_key_enc FROM signing_keys").fetch_all(&self.pool).await?;
        let mut out: Vec<EnvSealed> = keys
            .into_iter()
            .map(|(id, value)| EnvSealed { column: EnvSealedColumn::SigningKey, id, value })
            .collect();
        let users: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT id, totp_secret_enc, totp_pending_enc FROM users \
             WHERE totp_secret_enc IS NOT NULL OR totp_pending_enc IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        for (id, secret, pending) in users {
            for (column, value) in
                [(EnvSealedColumn::TotpSecret, secret), (EnvSealedColumn::TotpPending, pending)]
            {
                out.extend(value.map(|value| EnvSealed { column, id: id.clone(), value }));
            }
        }
        Ok(out)
    }

    /// Replaces one env-sealed value if it is still `old` (a concurrent change wins).
    pub(crate) async fn replace_env_sealed(&self, sealed: &EnvSealed, new: &str) -> Result<bool> {
        let sql = match sealed.column {
            EnvSealedColumn::SigningKey => {
                "UPDATE signing_keys SET private_key_enc = $1 WHERE kid = $2 AND private_key_enc = $3"
            }
            EnvSealedColumn::TotpSecret => {
                "UPDATE users SET totp_secret_enc = $1 WHERE id = $2 AND totp_secret_enc = $3"
            }
            EnvSealedColumn::TotpPending => {
                "UPDATE users SET totp_pending_enc = $1 WHERE id = $2 AND totp_pending_enc = $3"
            }
        };
        let r = sqlx::query(sql).bind(new).bind(&sealed.id).bind(&sealed.value).execute(&self.pool).await?;
        Ok(r.rows_affected() == 1)
    }
}
