//! Changes to API tokens.

use super::{Actor, WriteError, WriteResult, Writer, sql};
use crate::db::tokens::TokenRow;
use crate::{
    auth::tokens,
    domain::{PermissionSet, TokenLabel},
};

/// A new token: the only time the token itself exists outside its owner's hands.
pub struct CreatedToken {
    pub row: TokenRow,
    pub token: String,
}

/// What a new token may do, and until when.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// Stored as the explicit list, even when it is every permission.
    pub scopes: PermissionSet,
    /// `None`: it never expires.
    pub lifetime_days: Option<u32>,
}

impl Writer {
    /// A token with every permission its owner holds now, that never expires
    /// (the command line's default, and tests').
    pub async fn create_token(
        &self,
        actor: &Actor,
        label: &TokenLabel,
        owner_id: i64,
    ) -> WriteResult<CreatedToken> {
        let held = crate::db::users::find(&self.db, owner_id)
            .await?
            .ok_or(WriteError::NotFound)?
            .permission_set();
        let grant = TokenGrant {
            scopes: held,
            lifetime_days: None,
        };
        self.create_scoped_token(actor, label, owner_id, &grant)
            .await
    }

    /// A token limited to `grant`. Its owner must hold every scope, and so must
    /// the actor: checked inside the transaction, against what they hold then.
    pub async fn create_scoped_token(
        &self,
        actor: &Actor,
        label: &TokenLabel,
        owner_id: i64,
        grant: &TokenGrant,
    ) -> WriteResult<CreatedToken> {
        let token = tokens::generate();
        let expires_at = grant
            .lifetime_days
            .map(|days| time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(days)));
        let mut tx = self.begin(actor).await?;
        let owner = sql::access::lock_and_read_permissions(&mut tx, Some(owner_id))
            .await?
            .unwrap_or(PermissionSet::EMPTY);
        let actor_holds = match actor.admin_id {
            Some(id) if id != owner_id => sql::access::lock_and_read_permissions(&mut tx, Some(id))
                .await?
                .unwrap_or(PermissionSet::EMPTY),
            _ => owner,
        };
        let may_give = owner.intersection(actor_holds).intersection(actor.scope);
        if let Some(permission) = may_give.first_missing(grant.scopes) {
            return Err(WriteError::Escalation(permission));
        }
        let row = sql::tokens::insert(
            &mut tx,
            label.as_str(),
            &tokens::hash(&token),
            owner_id,
            &grant.scopes.names(),
            expires_at,
        )
        .await?;
        self.commit(tx).await?;
        Ok(CreatedToken { row, token })
    }

    /// Revokes a token; every instance stops trusting it at once.
    pub async fn revoke_token(&self, actor: &Actor, id: i64) -> WriteResult<TokenRow> {
        let mut tx = self.begin(actor).await?;
        let row = sql::tokens::revoke(&mut tx, id)
            .await?
            .ok_or(WriteError::NotFound)?;
        self.commit(tx).await?;
        Ok(row)
    }

    /// Records a token's use, at most once a minute per token. Bookkeeping, not
    /// a change anyone acts on: not audited, announced to nobody.
    pub async fn token_used(&self, token_id: i64) -> WriteResult<()> {
        Ok(sql::tokens::touch(&self.db, token_id).await?)
    }
}
