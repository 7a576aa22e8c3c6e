//! Creating an account: a valid email, name and password, the `user` role, and a mailed
//! link to verify the address. No session: the new user logs in next.

use crate::domain::auth::Auth;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::input::{checked_email, checked_name};
use crate::domain::password_reset::check_new_password;
use crate::metrics::Metrics;
use crate::store::{ClientInfo, EmailToken, NewUser, User};

/// Registers `email` (trimmed; 409 `email_taken` when its look-alike key is taken): the
/// new user and the permissions their role grants.
pub(crate) async fn register(
    auth: &Auth<'_>,
    email: &str,
    password: String,
    name: Option<&str>,
    client: ClientInfo,
) -> DomainResult<(User, Vec<String>)> {
    let email = checked_email(email)?;
    let name = checked_name(name.unwrap_or_default())?;
    check_new_password(auth, &password)?;
    let hash = auth.passwords.hash(password).await.map_err(DomainError::internal)?;
    let (id, roles) = (crate::crypto::new_id(), vec!["user".to_owned()]);
    let new_user =
        NewUser { id: &id, email, name: &name, password_hash: &hash, roles: &roles, verified_at: None };
    if !auth.db.insert_user(&new_user, crate::now()).await? {
        return Err(DomainError::conflict("email_taken", "An account with this email already exists"));
    }
    Metrics::inc(&auth.metrics.registrations);
    auth.db.audit("user_registered", Some(&id), Some(&id), &client, None).await;
    let user = auth.db.user_by_id(&id).await?.ok_or_else(|| DomainError::internal("user vanished"))?;
    super::email_links::send_later(auth, EmailToken::Verification, user.email.clone(), client);
    let permissions = auth.tokens.roles.permissions_for(&user.roles).await?;
    Ok((user, permissions))
}
