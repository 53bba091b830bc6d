//! Changes to webhook endpoints, audited like every other change (the secret
//! never enters the trail).

use serde_json::json;

use super::{Actor, WriteError, WriteResult, Writer, sql};
use crate::db::{self, deliveries::DeliveryRow, webhooks::WebhookRow};
use crate::{
    auth::webhook_signature as signature,
    domain::{AuditAction, WebhookEvents},
};

/// An endpoint as created: the only time its secret is shown.
pub struct CreatedWebhook {
    pub webhook: WebhookRow,
    pub secret: String,
}

/// What changes on an endpoint (`None`: unchanged). The URL has passed the
/// address guard.
#[derive(Default)]
pub struct WebhookChanges {
    pub url: Option<url::Url>,
    pub events: Option<WebhookEvents>,
    pub active: Option<bool>,
}

impl Writer {
    pub async fn create_webhook(
        &self,
        actor: &Actor,
        url: &url::Url,
        events: &WebhookEvents,
    ) -> WriteResult<CreatedWebhook> {
        let secret = signature::new_secret();
        let mut tx = self.begin(actor).await?;
        let webhook = sql::webhooks::insert(
            &mut tx,
            url.as_str(),
            events.as_slice(),
            &secret,
            actor.admin_id,
        )
        .await?;
        tx.commit().await?;
        Ok(CreatedWebhook { webhook, secret })
    }

    pub async fn update_webhook(
        &self,
        actor: &Actor,
        id: i64,
        changes: WebhookChanges,
    ) -> WriteResult<WebhookRow> {
        let mut tx = self.begin(actor).await?;
        let row = sql::webhooks::update(
            &mut tx,
            id,
            changes.url.as_ref().map(url::Url::as_str),
            changes.events.as_ref().map(WebhookEvents::as_slice),
            changes.active,
        )
        .await?
        .ok_or(WriteError::NotFound)?;
        if changes.active == Some(true) {
            // Resumed: what waited goes out now, not at the next idle look.
            db::deliveries::wake_dispatchers(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(row)
    }

    /// A new secret, shown once; the old one stops signing at once.
    pub async fn rotate_webhook_secret(
        &self,
        actor: &Actor,
        id: i64,
    ) -> WriteResult<CreatedWebhook> {
        let secret = signature::new_secret();
        let mut tx = self.begin(actor).await?;
        let webhook = sql::webhooks::set_secret(&mut tx, id, &secret)
            .await?
            .ok_or(WriteError::NotFound)?;
        tx.commit().await?;
        Ok(CreatedWebhook { webhook, secret })
    }

    pub async fn delete_webhook(&self, actor: &Actor, id: i64) -> WriteResult<()> {
        let mut tx = self.begin(actor).await?;
        if !sql::webhooks::delete(&mut tx, id).await? {
            return Err(WriteError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    /// Queues a `webhook.test` event for the endpoint.
    pub async fn send_test_event(&self, actor: &Actor, id: i64) -> WriteResult<DeliveryRow> {
        let mut tx = self.begin(actor).await?;
        let webhook = sql::webhooks::find_for_update(&mut tx, id)
            .await?
            .ok_or(WriteError::NotFound)?;
        let delivery = sql::deliveries::enqueue_test(&mut tx, id).await?;
        sql::webhooks::record(&mut tx, AuditAction::WebhookTested, &webhook, json!({})).await?;
        tx.commit().await?;
        Ok(delivery)
    }

    /// Sends a delivery again (same `webhook-id`), whatever became of it.
    pub async fn redeliver(&self, actor: &Actor, delivery_id: i64) -> WriteResult<DeliveryRow> {
        let mut tx = self.begin(actor).await?;
        let delivery = sql::deliveries::redeliver(&mut tx, delivery_id)
            .await?
            .ok_or(WriteError::NotFound)?;
        if let Some(webhook) = sql::webhooks::find_for_update(&mut tx, delivery.webhook_id).await? {
            let changes = json!({"delivery": [null, delivery_id]});
            sql::webhooks::record(&mut tx, AuditAction::WebhookRedelivered, &webhook, changes)
                .await?;
        }
        tx.commit().await?;
        Ok(delivery)
    }
}
