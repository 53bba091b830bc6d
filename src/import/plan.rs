//! What an import would do: per row, create, update (which fields, old → new),
//! unchanged, or the row's errors. Built from the rows and what the database
//! holds for them; applying it is the write path's job.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    read::{Cell, SubmittedRow},
    row::{ImportRow, RejectedRow},
};
use crate::{
    db::users::UserRow,
    domain::{FieldErrors, UserEmail, UserStatus},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Unchanged,
    Error,
}

/// How many rows do what.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub create: u64,
    pub update: u64,
    pub unchanged: u64,
    pub error: u64,
}

/// One row's fate.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlannedRow {
    /// The row's line in the file (a CSV header is line 1; NDJSON lines and a
    /// JSON array's elements count from 1).
    pub line: u64,
    pub email: String,
    pub action: Action,
    /// The user the row matched, when it matched one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Each field that changes, as `[old, new]`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub changes: BTreeMap<&'static str, [Value; 2]>,
    #[serde(skip_serializing_if = "FieldErrors::is_empty")]
    pub errors: FieldErrors,
}

/// Each field that changes, as `[old, new]`.
pub type Changes = BTreeMap<&'static str, [Value; 2]>;

/// What a row that parsed does.
struct RowOutcome {
    action: Action,
    /// Whether the user is an active admin afterwards.
    active_admin: bool,
    changes: Changes,
}

/// A user the import creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creation {
    pub name: String,
    pub email: String,
    pub is_admin: bool,
    pub status: &'static str,
    pub disabled_reason: Option<String>,
    pub external_id: Option<String>,
}

/// The fields the import changes on a user (`None`: unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alteration {
    pub id: i64,
    pub name: Option<String>,
    pub is_admin: Option<bool>,
    pub status: Option<&'static str>,
    pub disabled_reason: Option<Option<String>>,
    pub external_id: Option<Option<String>>,
}

/// The whole plan, in the file's order.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub rows: Vec<PlannedRow>,
    pub counts: Counts,
    pub creations: Vec<Creation>,
    pub alterations: Vec<Alteration>,
    /// The versions of the users it changes, as read: a plan applied later (the
    /// page's confirm) must find them unchanged.
    digest: [u8; 32],
}

/// What the database holds for the rows of one file.
#[derive(Debug, Default)]
pub struct Stored {
    /// Per lookup email: the database's own case folding of it (the unique
    /// index's), and the live user that has it.
    pub matches: Vec<(String, Option<UserRow>)>,
    /// Live users by their external id.
    pub external_ids: HashMap<String, i64>,
    /// Active admins that are not deleted.
    pub active_admins: HashSet<i64>,
}

/// The email each row is looked up by; `None` where the row has no valid one
/// (that row is reported as it is parsed).
pub fn lookup_emails(rows: &[SubmittedRow]) -> Vec<Option<String>> {
    rows.iter()
        .map(|row| match row.cell("email") {
            Some(Cell::Text(raw)) => UserEmail::parse(raw)
                .ok()
                .map(|email| email.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

/// External ids the rows set, to look up their owners.
pub fn external_ids(rows: &[SubmittedRow]) -> Vec<String> {
    rows.iter()
        .filter_map(|row| match row.cell("external_id") {
            Some(Cell::Text(raw)) => Some(raw.clone()),
            _ => None,
        })
        .collect()
}

impl Plan {
    /// `stored.matches` holds one entry per row that had a lookup email, in order.
    pub fn build(rows: &[SubmittedRow], emails: &[Option<String>], stored: Stored) -> Self {
        let mut plan = Self::default();
        let mut matches = stored.matches.into_iter();
        let mut first_line_of: HashMap<String, u64> = HashMap::new();
        let mut external_id_lines: HashMap<String, u64> = HashMap::new();
        let mut admins = stored.active_admins.clone();
        // Rows that take an active admin's rights away, should none be left.
        let mut demotions: Vec<usize> = Vec::new();
        let mut hasher = Sha256::new();

        for (row, email) in rows.iter().zip(emails) {
            let (key, user) = match email {
                Some(_) => matches.next().unwrap_or_default(),
                None => (String::new(), None),
            };
            let parsed = ImportRow::parse(row, user.as_ref());
            let mut planned = match parsed {
                Err(RejectedRow {
                    line,
                    email,
                    errors,
                }) => PlannedRow {
                    line,
                    email,
                    action: Action::Error,
                    id: None,
                    changes: BTreeMap::new(),
                    errors,
                },
                Ok(import) => {
                    let mut errors = FieldErrors::default();
                    if let Some(first) = first_line_of.get(&key) {
                        errors.add("email", format!("is also on line {first}"));
                    } else {
                        first_line_of.insert(key, import.line);
                    }
                    let planned = match &user {
                        Some(user) => plan.alter(&import, user, &mut errors),
                        None => plan.create(&import, &mut errors),
                    };
                    if let Some(Some(external_id)) = &import.external_id {
                        let owner = stored.external_ids.get(external_id.as_str());
                        if owner.is_some_and(|owner| Some(*owner) != user.as_ref().map(|u| u.id)) {
                            errors.add("external_id", "belongs to another user");
                        } else if let Some(first) = external_id_lines.get(external_id.as_str()) {
                            errors.add("external_id", format!("is also on line {first}"));
                        } else {
                            external_id_lines.insert(external_id.as_str().to_owned(), import.line);
                        }
                    }
                    if let (Some(user), Some(after)) =
                        (&user, planned.as_ref().map(|p| p.active_admin))
                    {
                        let before = admins.contains(&user.id);
                        if before && !after {
                            admins.remove(&user.id);
                            demotions.push(plan.rows.len());
                        } else if after {
                            admins.insert(user.id);
                        }
                    } else if user.is_none() && planned.as_ref().is_some_and(|p| p.active_admin) {
                        // A new active admin: it keeps the console reachable.
                        admins.insert(-(plan.rows.len() as i64) - 1);
                    }
                    let (action, changes) = planned
                        .map(|p| (p.action, p.changes))
                        .unwrap_or((Action::Error, BTreeMap::new()));
                    PlannedRow {
                        line: import.line,
                        email: import.email.as_str().to_owned(),
                        action: if errors.is_empty() {
                            action
                        } else {
                            Action::Error
                        },
                        id: user.as_ref().map(|u| u.id),
                        changes,
                        errors,
                    }
                }
            };
            if planned.action == Action::Error {
                planned.changes.clear();
            }
            if let Some(user) = &user {
                hasher.update(user.id.to_be_bytes());
                hasher.update(user.version.to_be_bytes());
            }
            plan.rows.push(planned);
        }
        if admins.is_empty() {
            for index in demotions {
                let row = &mut plan.rows[index];
                row.errors.add(
                    "is_admin",
                    "the last active admin cannot be demoted or disabled",
                );
                row.action = Action::Error;
                row.changes.clear();
            }
        }
        for row in &plan.rows {
            hasher.update(row.line.to_be_bytes());
            hasher.update([row.action as u8]);
            match row.action {
                Action::Create => plan.counts.create += 1,
                Action::Update => plan.counts.update += 1,
                Action::Unchanged => plan.counts.unchanged += 1,
                Action::Error => plan.counts.error += 1,
            }
        }
        plan.digest = hasher.finalize().into();
        // A plan with errors is never applied: nothing of it is kept to write.
        if plan.counts.error > 0 {
            plan.creations.clear();
            plan.alterations.clear();
        }
        plan
    }

    /// Whether the plan can be applied: no row has errors.
    pub fn is_valid(&self) -> bool {
        self.counts.error == 0
    }

    /// Identifies the plan and the state it was made against: the same file
    /// planned again gives the same digest only if none of its users changed.
    pub fn digest(&self) -> String {
        hex::encode(self.digest)
    }

    /// Rows with errors, in file order.
    pub fn errors(&self) -> impl Iterator<Item = &PlannedRow> {
        self.rows.iter().filter(|row| row.action == Action::Error)
    }

    /// Rows that change something, in file order.
    pub fn changes(&self) -> impl Iterator<Item = &PlannedRow> {
        self.rows
            .iter()
            .filter(|row| matches!(row.action, Action::Create | Action::Update))
    }

    /// A new user.
    fn create(&mut self, import: &ImportRow, errors: &mut FieldErrors) -> Option<RowOutcome> {
        let Some(name) = &import.name else {
            errors.add("name", "is required to create a user");
            return None;
        };
        let status = import.status.unwrap_or(UserStatus::Active);
        let is_admin = import.is_admin.unwrap_or(false);
        let disabled_reason = match status {
            UserStatus::Disabled => import
                .disabled_reason
                .clone()
                .flatten()
                .map(|r| r.as_str().to_owned()),
            UserStatus::Active => {
                if matches!(import.disabled_reason, Some(Some(_))) {
                    errors.add("disabled_reason", "only a disabled user has one");
                }
                None
            }
        };
        let external_id = import
            .external_id
            .clone()
            .flatten()
            .map(|id| id.as_str().to_owned());
        let mut changes = BTreeMap::new();
        changes.insert("name", [Value::Null, json!(name.as_str())]);
        changes.insert("email", [Value::Null, json!(import.email.as_str())]);
        changes.insert("is_admin", [Value::Null, json!(is_admin)]);
        changes.insert("status", [Value::Null, json!(status.as_str())]);
        if let Some(reason) = &disabled_reason {
            changes.insert("disabled_reason", [Value::Null, json!(reason)]);
        }
        if let Some(external_id) = &external_id {
            changes.insert("external_id", [Value::Null, json!(external_id)]);
        }
        if errors.is_empty() {
            self.creations.push(Creation {
                name: name.as_str().to_owned(),
                email: import.email.as_str().to_owned(),
                is_admin,
                status: status.as_str(),
                disabled_reason,
                external_id,
            });
        }
        Some(RowOutcome {
            action: Action::Create,
            active_admin: is_admin && status == UserStatus::Active,
            changes,
        })
    }

    /// An existing user: only the fields that differ.
    fn alter(
        &mut self,
        import: &ImportRow,
        user: &UserRow,
        errors: &mut FieldErrors,
    ) -> Option<RowOutcome> {
        let mut changes = BTreeMap::new();
        let mut alteration = Alteration {
            id: user.id,
            name: None,
            is_admin: None,
            status: None,
            disabled_reason: None,
            external_id: None,
        };
        if let Some(name) = import.name.as_ref().filter(|n| n.as_str() != user.name) {
            changes.insert("name", [json!(user.name), json!(name.as_str())]);
            alteration.name = Some(name.as_str().to_owned());
        }
        if let Some(is_admin) = import.is_admin.filter(|a| *a != user.is_admin) {
            changes.insert("is_admin", [json!(user.is_admin), json!(is_admin)]);
            alteration.is_admin = Some(is_admin);
        }
        let stored_status = UserStatus::parse(&user.status).unwrap_or(UserStatus::Active);
        let status = import.status.unwrap_or(stored_status);
        if status != stored_status {
            changes.insert("status", [json!(user.status), json!(status.as_str())]);
            alteration.status = Some(status.as_str());
        }
        let stored_reason = user.disabled_reason.clone().filter(|r| !r.is_empty());
        let reason = match status {
            // Enabling clears the reason (the database does so too).
            UserStatus::Active => {
                if matches!(import.disabled_reason, Some(Some(_))) {
                    errors.add("disabled_reason", "only a disabled user has one");
                }
                None
            }
            UserStatus::Disabled => match &import.disabled_reason {
                Some(given) => given.as_ref().map(|r| r.as_str().to_owned()),
                None => stored_reason.clone(),
            },
        };
        if reason != stored_reason {
            changes.insert("disabled_reason", [json!(stored_reason), json!(reason)]);
            alteration.disabled_reason = Some(reason);
        }
        if let Some(external_id) = &import.external_id {
            let external_id = external_id.as_ref().map(|id| id.as_str().to_owned());
            if external_id != user.external_id {
                changes.insert("external_id", [json!(user.external_id), json!(external_id)]);
                alteration.external_id = Some(external_id);
            }
        }
        let is_admin = import.is_admin.unwrap_or(user.is_admin);
        let active_admin = is_admin && status == UserStatus::Active;
        if changes.is_empty() {
            return Some(RowOutcome {
                action: Action::Unchanged,
                active_admin,
                changes,
            });
        }
        if errors.is_empty() {
            self.alterations.push(alteration);
        }
        Some(RowOutcome {
            action: Action::Update,
            active_admin,
            changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::read::{ImportFormat, read_rows};

    fn user(id: i64, name: &str, email: &str, is_admin: bool) -> UserRow {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        UserRow {
            id,
            name: name.into(),
            email: email.into(),
            is_admin,
            created_at: now,
            updated_at: now,
            version: 3,
            status: "active".into(),
            disabled_reason: None,
            disabled_at: None,
            deleted_at: None,
            last_login_at: None,
            external_id: None,
            scim_profile: None,
        }
    }

    /// Plans a CSV against users matched by lower-cased email.
    fn plan(csv: &str, users: &[UserRow]) -> Plan {
        let rows = read_rows(csv.as_bytes(), ImportFormat::Csv, &mut |_| {}).unwrap();
        let emails = lookup_emails(&rows);
        let matches = emails
            .iter()
            .flatten()
            .map(|email| {
                let key = email.to_lowercase();
                let user = users
                    .iter()
                    .find(|u| u.email.to_lowercase() == key)
                    .cloned();
                (key, user)
            })
            .collect();
        let stored = Stored {
            matches,
            external_ids: HashMap::new(),
            active_admins: users
                .iter()
                .filter(|u| u.is_admin && u.status == "active")
                .map(|u| u.id)
                .collect(),
        };
        Plan::build(&rows, &emails, stored)
    }

    #[test]
    fn rows_create_update_or_leave_users_and_name_what_changes() {
        let users = [
            user(1, "Root", "root@x.com", true),
            user(2, "Ada", "ada@x.com", false),
        ];
        let plan = plan(
            "name,email,is_admin\nRoot,ROOT@x.com,true\nAda L,ada@x.com,\nBob,bob@x.com,false\n",
            &users,
        );
        let actions: Vec<_> = plan.rows.iter().map(|r| r.action).collect();
        assert_eq!(actions, [Action::Unchanged, Action::Error, Action::Create]);
        // An empty is_admin cell is not a value.
        assert!(!plan.rows[1].errors.get("is_admin").is_empty());
        assert!(plan.creations.is_empty() && plan.alterations.is_empty());

        let plan = self::plan("email,name\nada@x.com,Ada L\nbob@x.com,Bob\n", &users);
        assert!(plan.is_valid());
        assert_eq!(plan.rows[0].changes["name"], [json!("Ada"), json!("Ada L")]);
        assert_eq!(plan.alterations.len(), 1);
        assert_eq!(plan.creations[0].status, "active");
        assert_eq!(
            plan.counts,
            Counts {
                create: 1,
                update: 1,
                unchanged: 0,
                error: 0
            }
        );
    }

    #[test]
    fn the_same_email_twice_and_the_last_admin_are_refused() {
        let users = [user(1, "Root", "root@x.com", true)];
        let plan = plan("email,name\nbob@x.com,Bob\nBOB@x.com,Bob\n", &users);
        assert_eq!(plan.rows[1].errors.get("email"), ["is also on line 2"]);
        let plan = self::plan("email,is_admin\nroot@x.com,false\n", &users);
        assert_eq!(plan.rows[0].action, Action::Error);
        // Unless the same file makes another admin.
        let plan = self::plan(
            "email,name,is_admin\nroot@x.com,Root,false\nnew@x.com,New,true\n",
            &users,
        );
        assert!(plan.is_valid(), "{:?}", plan.rows);
    }

    #[test]
    fn the_digest_moves_when_a_matched_user_changes() {
        let mut users = [user(1, "Root", "root@x.com", true)];
        let before = plan("email,name\nroot@x.com,R\n", &users).digest();
        assert_eq!(before, plan("email,name\nroot@x.com,R\n", &users).digest());
        users[0].version += 1;
        assert_ne!(before, plan("email,name\nroot@x.com,R\n", &users).digest());
    }
}
