//! SQL for trading accounts, memberships and their encrypted credentials.
//!
//! Membership changes that could leave an account without an owner are single conditional
//! statements; on PostgreSQL they run after locking the account row, so two owners
//! demoting each other at once cannot both succeed (SQLite serializes writers anyway).

use super::*;
use crate::db::DbKind;

#[derive(Debug, Clone, sqlx_macros::FromRow)]
pub(crate) struct TradingAccountRow {
    pub(crate) id: String,
    pub(crate) broker: String,
    pub(crate) label: String,
    pub(crate) broker_user_id: String,
    pub(crate) subscription_tier: String,
    pub(crate) credentials_enc: String,
    pub(crate) credentials_hint: String,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

/// A member of a trading account.
#[derive(Debug, Clone, sqlx_macros::FromRow)]
pub(crate) struct MemberRow {
    pub(crate) user_id: String,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) created_at: i64,
}

/// What adding (or re-adding) a member did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MemberUpsert {
    /// A new member.
    Added,
    /// An existing member's role changed from this one.
    Changed(String),
    /// The member already had this role.
    Unchanged,
    /// Refused: the member is the account's last owner.
    LastOwner,
}

/// What removing a member did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MemberRemoval {
    /// Removed; the role they had.
    Removed(String),
    /// Not a member of the account.
    NotMember,
    /// Refused: the member is the account's last owner.
    LastOwner,
}

/// Keeps at least one other owner when the member being changed is an owner.
const OWNER_GUARD: &str = "(role <> 'owner' OR (SELECT COUNT(*) FROM trading_account_memberships o \
     WHERE o.account_id = $1 AND o.role = 'owner') > 1)";

impl Db {
    /// Inserts an account and its first owner together.
    pub(crate) async fn insert_trading_account(
        &self,
        a: &TradingAccountRow,
        owner_id: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx: Transaction<'_, Any> = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO trading_accounts (id, broker, label, broker_user_id, subscription_tier, \
             credentials_enc, credentials_hint, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&a.id)
        .bind(&a.broker)
        .bind(&a.label)
        .bind(&a.broker_user_id)
        .bind(&a.subscription_tier)
        .bind(&a.credentials_enc)
        .bind(&a.credentials_hint)
        .bind(owner_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO trading_account_memberships (account_id, user_id, role, created_at) \
             VALUES ($1, $2, 'owner', $3)",
        )
        .bind(&a.id)
        .bind(owner_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    pub(crate) async fn trading_account_by_id(&self, id: &str) -> Result<Option<TradingAccountRow>> {
        sqlx::query_as("SELECT * FROM trading_accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// The account and `user_id`'s role in it; `None` when either is unknown or the user
    /// is not a member.
    pub(crate) async fn trading_account_for_member(
        &self,
        id: &str,
        user_id: &str,
    ) -> Result<Option<(TradingAccountRow, String)>> {
        let row = sqlx::query(
            "SELECT a.*, m.role FROM trading_accounts a JOIN trading_account_memberships m ON m.account_id = a.id \
             WHERE a.id = $1 AND m.user_id = $2",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((TradingAccountRow::from_row(&r)?, r.try_get("role")?))).transpose()
    }

    /// Every account `user_id` is a member of, with the role, oldest first.
    pub(crate) async fn trading_accounts_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<(TradingAccountRow, String)>> {
        let rows = sqlx::query(
            "SELECT a.*, m.role FROM trading_accounts a JOIN trading_account_memberships m ON m.account_id = a.id \
             WHERE m.user_id = $1 ORDER BY a.created_at, a.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((TradingAccountRow::from_row(r)?, r.try_get("role")?))).collect()
    }

    /// Writes label, tier and credentials; when the credentials change, only if they are
    /// still `expected_enc` (so a concurrent change is never silently overwritten).
    /// `false` when the row changed or vanished meanwhile.
    pub(crate) async fn update_trading_account(
        &self,
        a: &TradingAccountRow,
        expected_enc: &str,
        now: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE trading_accounts SET label = $2, subscription_tier = $3, credentials_enc = $4, \
             credentials_hint = $5, updated_at = $6 WHERE id = $1 AND credentials_enc = $7",
        )
        .bind(&a.id)
        .bind(&a.label)
        .bind(&a.subscription_tier)
        .bind(&a.credentials_enc)
        .bind(&a.credentials_hint)
        .bind(now)
        .bind(expected_enc)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Deletes an account and its memberships; `false` if it did not exist.
    pub(crate) async fn delete_trading_account(&self, id: &str) -> Result<bool> {
        let mut tx: Transaction<'_, Any> = self.pool.begin().await?;
        sqlx::query("DELETE FROM trading_account_memberships WHERE account_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM trading_accounts WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// `(id, credentials_enc)` of every account, for re-encryption after a rotation.
    pub(crate) async fn all_trading_account_credentials(&self) -> Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT id, credentials_enc FROM trading_accounts ORDER BY id")
            .fetch_all(&self.pool)
            .await
    }

    /// Replaces a ciphertext by its re-encryption, unless the row changed meanwhile.
    pub(crate) async fn replace_trading_account_credentials(
        &self,
        id: &str,
        old_enc: &str,
        new_enc: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE trading_accounts SET credentials_enc = $3 WHERE id = $1 AND credentials_enc = $2",
        )
        .bind(id)
        .bind(old_enc)
        .bind(new_enc)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn trading_account_members(&self, account_id: &str) -> Result<Vec<MemberRow>> {
        sqlx::query_as(
            "SELECT m.user_id, u.email, u.name, m.role, m.created_at FROM trading_account_memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.account_id = $1 ORDER BY m.created_at, u.email",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
    }

    /// On PostgreSQL, locks the account row for the rest of the transaction.
    async fn lock_trading_account(&self, tx: &mut Transaction<'_, Any>, account_id: &str) -> Result<()> {
        if self.kind == DbKind::Postgres {
            sqlx::query("SELECT id FROM trading_accounts WHERE id = $1 FOR UPDATE")
                .bind(account_id)
                .fetch_optional(&mut **tx)
                .await?;
        }
        Ok(())
    }

    async fn member_role(
        tx: &mut Transaction<'_, Any>,
        account_id: &str,
        user_id: &str,
    ) -> Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT role FROM trading_account_memberships WHERE account_id = $1 AND user_id = $2",
        )
        .bind(account_id)
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await
    }

    /// Adds `user_id` with `role`, or changes the role of an existing member; never
    /// demotes the last owner.
    pub(crate) async fn upsert_trading_account_member(
        &self,
        account_id: &str,
        user_id: &str,
        role: &str,
        now: i64,
    ) -> Result<MemberUpsert> {
        let mut tx: Transaction<'_, Any> = self.pool.begin().await?;
        self.lock_trading_account(&mut tx, account_id).await?;
        let inserted = sqlx::query(
            "INSERT INTO trading_account_memberships (account_id, user_id, role, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, user_id) DO NOTHING",
        )
        .bind(account_id)
        .bind(user_id)
        .bind(role)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            tx.commit().await?;
            return Ok(MemberUpsert::Added);
        }
        let Some(previous) = Self::member_role(&mut tx, account_id, user_id).await? else {
            // Removed between the two statements (SQLite only): nothing to change.
            tx.commit().await?;
            return Ok(MemberUpsert::Unchanged);
        };
        if previous == role {
            tx.commit().await?;
            return Ok(MemberUpsert::Unchanged);
        }
        let sql = format!(
            "UPDATE trading_account_memberships SET role = $3 \
             WHERE account_id = $1 AND user_id = $2 AND {OWNER_GUARD}"
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(user_id)
            .bind(role)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(if r.rows_affected() == 1 { MemberUpsert::Changed(previous) } else { MemberUpsert::LastOwner })
    }

    /// Removes a member; never the last owner.
    pub(crate) async fn remove_trading_account_member(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<MemberRemoval> {
        let mut tx: Transaction<'_, Any> = self.pool.begin().await?;
        self.lock_trading_account(&mut tx, account_id).await?;
        let Some(role) = Self::member_role(&mut tx, account_id, user_id).await? else {
            tx.commit().await?;
            return Ok(MemberRemoval::NotMember);
        };
        let sql = format!(
            "DELETE FROM trading_account_memberships WHERE account_id = $1 AND user_id = $2 AND {OWNER_GUARD}"
        );
        let r =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id).bind(user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(if r.rows_affected() == 1 { MemberRemoval::Removed(role) } else { MemberRemoval::LastOwner })
    }
}
