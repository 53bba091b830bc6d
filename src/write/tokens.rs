//! Changes to API tokens.

use super::{Actor, WriteError, WriteResult, Writer, sql};
use crate::db::tokens::TokenRow;
use crate::{auth::tokens, domain::TokenLabel};

/// A new token: the only time the token itself exists outside its owner's hands.
pub struct CreatedToken {
    pub row: TokenRow,
    pub token: String,
}

impl Writer {
    pub async fn create_token(
        &self,
        actor: &Actor,
        label: &TokenLabel,
        owner_id: i64,
    ) -> WriteResult<CreatedToken> {
        let token = tokens::generate();
        let mut tx = self.begin(actor).await?;
        let row =
            sql::tokens::insert(&mut tx, label.as_str(), &tokens::hash(&token), owner_id).await?;
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
