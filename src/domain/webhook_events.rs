use super::AuditAction;

/// The events an endpoint can subscribe to: the audit trail's user, token,
/// role and group actions, one by one or by family.
pub const WEBHOOK_EVENTS: [&str; 25] = [
    "user.*",
    AuditAction::UserCreated.as_str(),
    AuditAction::UserUpdated.as_str(),
    AuditAction::UserDisabled.as_str(),
    AuditAction::UserEnabled.as_str(),
    AuditAction::UserDeleted.as_str(),
    AuditAction::UserRestored.as_str(),
    AuditAction::UserPurged.as_str(),
    AuditAction::PasswordChanged.as_str(),
    AuditAction::UserRolesChanged.as_str(),
    "token.*",
    AuditAction::TokenCreated.as_str(),
    AuditAction::TokenUpdated.as_str(),
    AuditAction::TokenRevoked.as_str(),
    AuditAction::TokenDeleted.as_str(),
    "role.*",
    AuditAction::RoleCreated.as_str(),
    AuditAction::RoleUpdated.as_str(),
    AuditAction::RoleDeleted.as_str(),
    "group.*",
    AuditAction::GroupCreated.as_str(),
    AuditAction::GroupUpdated.as_str(),
    AuditAction::GroupDeleted.as_str(),
    AuditAction::GroupMemberAdded.as_str(),
    AuditAction::GroupMemberRemoved.as_str(),
];

/// A webhook's subscriptions: known events, at least one, each once, in the
/// order of [`WEBHOOK_EVENTS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvents(Vec<String>);

impl WebhookEvents {
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("choose at least one event".into());
        }
        for event in raw {
            let event = event.as_ref().trim();
            if !WEBHOOK_EVENTS.contains(&event) {
                return Err(format!(
                    "unknown event {event:?}; events are {}",
                    WEBHOOK_EVENTS.join(", ")
                ));
            }
        }
        let chosen = WEBHOOK_EVENTS
            .iter()
            .filter(|known| raw.iter().any(|event| event.as_ref().trim() == **known))
            .map(|known| (*known).to_owned())
            .collect();
        Ok(Self(chosen))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_known_deduplicated_and_ordered() {
        let events = WebhookEvents::parse(&["token.*", "user.created", "user.created"]).unwrap();
        assert_eq!(events.as_slice(), ["user.created", "token.*"]);
        assert!(WebhookEvents::parse::<&str>(&[]).is_err());
        assert!(
            WebhookEvents::parse(&["user.exploded"])
                .unwrap_err()
                .contains("unknown event")
        );
        assert!(WebhookEvents::parse(&["webhook.created"]).is_err());
    }
}
