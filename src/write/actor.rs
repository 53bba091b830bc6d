//! Who makes a change, as the audit trail will record it: the admin or token
//! acting, how (`via`), and the request it came with.

use serde::Serialize;

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Admin,
    Token,
    Cli,
    System,
}

/// Through which door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Session,
    Token,
    Cli,
    /// A file imported by any of the others.
    Import,
    /// An identity provider, through `/scim/v2`.
    Scim,
    System,
}

#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// The admin's id, or the token's.
    pub id: Option<i64>,
    /// The admin's email or the token's label, as they are at the time.
    pub label: String,
    pub via: Via,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    /// The admin the change is made for (a token's owner): the rule that one's
    /// own password needs the current one applies to them.
    #[serde(skip)]
    pub admin_id: Option<i64>,
    /// What the request may use of its admin's permissions: a token's scopes
    /// (every permission for a session, the command line and the service).
    /// Checks made inside a write intersect it with what the admin holds then.
    #[serde(skip)]
    pub scope: crate::domain::PermissionSet,
}

impl Actor {
    /// The command line, run by the operating-system user `who`.
    pub fn cli(who: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::Cli,
            id: None,
            label: who.into(),
            via: Via::Cli,
            request_id: None,
            client_ip: None,
            admin_id: None,
            scope: crate::domain::PermissionSet::ALL,
        }
    }

    /// The service itself (the first admin at start-up).
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
            label: "useradmin".into(),
            via: Via::System,
            request_id: None,
            client_ip: None,
            admin_id: None,
            scope: crate::domain::PermissionSet::ALL,
        }
    }

    /// The operating-system user running the command line, for its actor label.
    /// `$USER` (or `$LOGNAME`); when neither is set (a container, cron,
    /// `env -i`), the name the system gives the process's user id, else
    /// `uid 1000`.
    pub fn cli_user() -> Self {
        let named = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let who = named("USER")
            .or_else(|| named("LOGNAME"))
            .unwrap_or_else(system_user);
        Self::cli(who)
    }

    /// Whether the change is made by (or for) the admin with this id.
    pub fn is_admin(&self, user_id: i64) -> bool {
        self.admin_id == Some(user_id)
    }

    /// The form the database's triggers read.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an actor always serialises")
    }
}

/// The process's user by name from `/etc/passwd`, or by id (from
/// `/proc/self/status`), without asking the environment.
fn system_user() -> String {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next().map(str::to_owned))
        });
    let Some(uid) = uid else {
        return "unknown user".into();
    };
    let name = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                (fields.nth(1)? == uid).then(|| name.to_owned())
            })
        });
    name.unwrap_or_else(|| format!("uid {uid}"))
}
