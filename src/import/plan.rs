//! What an import would do: per row, create, update (which fields, old → new),
//! unchanged, or the row's errors. Built from the rows and what the database
//! holds for them; applying it is the write path's job.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    hash::{BuildHasher, RandomState},
};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    read::{Cell, SubmittedRow},
    row::{ImportRow, RejectedRow},
};
pub use crate::db::import::{Alteration, Creation, Stored};
use crate::{
    db::users::UserRow,
    domain::{FieldErrors, UserEmail, UserField, UserStatus},
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

/// Rows a report or a preview lists of each kind (errors, changes, unchanged
/// rows), the first ones in the file; the counts cover every row. A file of
/// any size so answers in bounded memory.
pub const LISTED_ROWS: usize = 1_000;

/// The whole plan: every row counted, the first rows of each kind listed.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The listed rows, in the file's order (see [`LISTED_ROWS`]).
    pub rows: Vec<PlannedRow>,
    pub counts: Counts,
    /// Rows counted but not listed.
    pub omitted: u64,
    /// The versions of the users it changes, as read: a plan applied later (the
    /// page's confirm) must find them unchanged.
    digest: [u8; 32],
}

/// The email each row is looked up by; `None` where the row has no valid one
/// (that row is reported as it is parsed).
pub fn lookup_emails(rows: &[SubmittedRow]) -> Vec<Option<String>> {
    rows.iter()
        .map(|row| match row.cell(UserField::Email) {
            Some(Cell::Text(raw)) => UserEmail::parse(raw)
                .ok()
                .map(|email| email.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

/// A batch's rows with their values parsed, waiting for the owners of the
/// external ids they set (looked up only once they are known to be valid).
pub struct ParsedBatch {
    rows: Vec<ParsedRow>,
    with_password: HashSet<i64>,
}

struct ParsedRow {
    /// The database's folding of the row's email ("" without a valid one).
    key: String,
    user: Option<UserRow>,
    parsed: Result<ImportRow, RejectedRow>,
}

impl ParsedBatch {
    /// The valid external ids the rows set, to look up who holds them.
    pub fn external_ids(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter_map(|row| match &row.parsed {
                Ok(ImportRow {
                    external_id: Some(Some(id)),
                    ..
                }) => Some(id.as_str().to_owned()),
                _ => None,
            })
            .collect()
    }
}

/// What one batch writes, once every row so far is valid.
#[derive(Debug, Default)]
pub struct BatchWrites {
    pub creations: Vec<Creation>,
    pub alterations: Vec<Alteration>,
}

/// Builds a [`Plan`] a batch at a time. It keeps, whatever the file's size,
/// the counts, the listed rows, the rows that demote an admin, and a 64-bit
/// fingerprint and a line per email and external id seen (to name a repeat).
pub struct Planner {
    counts: Counts,
    errors: Vec<PlannedRow>,
    changes: Vec<PlannedRow>,
    unchanged: Vec<PlannedRow>,
    omitted: u64,
    first_line_of: HashMap<u64, u64>,
    external_id_lines: HashMap<u64, u64>,
    /// Keyed afresh for every plan: a file cannot be made to collide.
    fingerprints: RandomState,
    /// Active admins who can log in, as the rows so far leave them.
    admins: HashSet<i64>,
    /// Rows that take an active admin's rights away, should none be left.
    demotions: Vec<PlannedRow>,
    hasher: Sha256,
}

impl Planner {
    /// `active_admins`: the active admins that are not deleted and have a
    /// password, before the file.
    pub fn new(active_admins: HashSet<i64>) -> Self {
        Self {
            counts: Counts::default(),
            errors: Vec::new(),
            changes: Vec::new(),
            unchanged: Vec::new(),
            omitted: 0,
            first_line_of: HashMap::new(),
            external_id_lines: HashMap::new(),
            fingerprints: RandomState::new(),
            admins: active_admins,
            demotions: Vec::new(),
            hasher: Sha256::new(),
        }
    }

    /// Whether no row so far has errors (so the batches so far may be written).
    pub fn is_valid_so_far(&self) -> bool {
        self.counts.error == 0
    }

    /// Parses a batch's rows, given what the database holds for their emails:
    /// `stored.matches` holds one entry per row that had a lookup email, in order.
    pub fn parse(
        &self,
        rows: &[SubmittedRow],
        emails: &[Option<String>],
        stored: Stored,
    ) -> ParsedBatch {
        let Stored {
            matches,
            with_password,
        } = stored;
        let mut matches = matches.into_iter();
        let rows = rows
            .iter()
            .zip(emails)
            .map(|(row, email)| {
                let (key, user) = match email {
                    Some(_) => matches.next().unwrap_or_default(),
                    None => (String::new(), None),
                };
                let parsed = ImportRow::parse(row, user.as_ref());
                ParsedRow { key, user, parsed }
            })
            .collect();
        ParsedBatch {
            rows,
            with_password,
        }
    }

    /// Plans a parsed batch; `owners` are the live users holding its external
    /// ids. Returns what the batch writes (nothing once any row has errors).
    pub fn plan(&mut self, batch: ParsedBatch, owners: &HashMap<String, i64>) -> BatchWrites {
        let mut writes = BatchWrites::default();
        let with_password = batch.with_password;
        for ParsedRow { key, user, parsed } in batch.rows {
            let planned = match parsed {
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
                    let can_log_in = user.as_ref().is_some_and(|u| with_password.contains(&u.id));
                    self.plan_row(import, key, user.as_ref(), can_log_in, owners, &mut writes)
                }
            };
            if let Some(user) = &user {
                self.hasher.update(user.id.to_be_bytes());
                self.hasher.update(user.version.to_be_bytes());
            }
            self.hasher.update(planned.line.to_be_bytes());
            self.hasher.update([planned.action as u8]);
            self.list(planned);
        }
        if !self.is_valid_so_far() {
            return BatchWrites::default();
        }
        writes
    }

    fn plan_row(
        &mut self,
        import: ImportRow,
        key: String,
        user: Option<&UserRow>,
        can_log_in: bool,
        owners: &HashMap<String, i64>,
        writes: &mut BatchWrites,
    ) -> PlannedRow {
        let mut errors = FieldErrors::default();
        let fingerprint = self.fingerprints.hash_one(&key);
        if let Some(first) = self.first_line_of.get(&fingerprint) {
            errors.add("email", format!("is also on line {first}"));
        } else {
            self.first_line_of.insert(fingerprint, import.line);
        }
        let mut creation = None;
        let mut alteration = None;
        let outcome = match user {
            Some(user) => alter(&import, user, &mut errors, &mut alteration),
            None => create(&import, &mut errors, &mut creation),
        };
        if let Some(Some(external_id)) = &import.external_id {
            let owner = owners.get(external_id.as_str());
            let fingerprint = self.fingerprints.hash_one(external_id.as_str());
            if owner.is_some_and(|owner| Some(*owner) != user.map(|u| u.id)) {
                errors.add("external_id", "belongs to another user");
            } else if let Some(first) = self.external_id_lines.get(&fingerprint) {
                errors.add("external_id", format!("is also on line {first}"));
            } else {
                self.external_id_lines.insert(fingerprint, import.line);
            }
        }
        // Only admins who can log in (have a password) keep the pages
        // reachable: a user the import creates has none.
        let mut demotes = false;
        if let (Some(user), Some(after)) = (user, outcome.as_ref().map(|o| o.active_admin)) {
            let before = self.admins.contains(&user.id);
            if before && !after {
                self.admins.remove(&user.id);
                demotes = true;
            } else if after && can_log_in {
                self.admins.insert(user.id);
            }
        }
        let (action, changes) = outcome
            .map(|o| (o.action, o.changes))
            .unwrap_or((Action::Error, BTreeMap::new()));
        let valid = errors.is_empty();
        let planned = PlannedRow {
            line: import.line,
            email: import.email.as_str().to_owned(),
            action: if valid { action } else { Action::Error },
            id: user.map(|u| u.id),
            changes: if valid { changes } else { BTreeMap::new() },
            errors,
        };
        if valid {
            writes.creations.extend(creation);
            writes.alterations.extend(alteration);
            if demotes {
                self.demotions.push(planned.clone());
            }
        }
        planned
    }

    /// Counts a row, and lists it while its kind has room.
    fn list(&mut self, row: PlannedRow) {
        let listed = match row.action {
            Action::Create => {
                self.counts.create += 1;
                &mut self.changes
            }
            Action::Update => {
                self.counts.update += 1;
                &mut self.changes
            }
            Action::Unchanged => {
                self.counts.unchanged += 1;
                &mut self.unchanged
            }
            Action::Error => {
                self.counts.error += 1;
                &mut self.errors
            }
        };
        if listed.len() < LISTED_ROWS {
            listed.push(row);
        } else {
            self.omitted += 1;
        }
    }

    /// The plan, once every batch is planned: the last-admin rule applied to
    /// the whole file.
    pub fn finish(mut self) -> Plan {
        if self.admins.is_empty() {
            for mut row in std::mem::take(&mut self.demotions) {
                let was_listed = match self.changes.iter().position(|r| r.line == row.line) {
                    Some(index) => {
                        self.changes.remove(index);
                        true
                    }
                    None => false,
                };
                self.counts.update -= 1;
                self.counts.error += 1;
                row.errors.add(
                    "is_admin",
                    "the last active admin cannot be demoted or disabled",
                );
                row.action = Action::Error;
                row.changes.clear();
                self.hasher.update(row.line.to_be_bytes());
                self.hasher.update([row.action as u8]);
                if self.errors.len() < LISTED_ROWS {
                    self.errors.push(row);
                    if !was_listed {
                        self.omitted -= 1;
                    }
                } else if was_listed {
                    self.omitted += 1;
                }
            }
            self.errors.sort_by_key(|row| row.line);
        }
        let mut rows = self.errors;
        rows.append(&mut self.changes);
        rows.append(&mut self.unchanged);
        rows.sort_by_key(|row| row.line);
        Plan {
            rows,
            counts: self.counts,
            omitted: self.omitted,
            digest: self.hasher.finalize().into(),
        }
    }
}

impl Plan {
    /// Whether the plan can be applied: no row has errors.
    pub fn is_valid(&self) -> bool {
        self.counts.error == 0
    }

    /// Identifies the plan and the state it was made against: the same file
    /// planned again gives the same digest only if none of its users changed.
    pub fn digest(&self) -> String {
        hex::encode(self.digest)
    }

    /// Listed rows with errors, in file order.
    pub fn errors(&self) -> impl Iterator<Item = &PlannedRow> {
        self.rows.iter().filter(|row| row.action == Action::Error)
    }

    /// Listed rows that change something, in file order.
    pub fn changes(&self) -> impl Iterator<Item = &PlannedRow> {
        self.rows
            .iter()
            .filter(|row| matches!(row.action, Action::Create | Action::Update))
    }
}

/// A new user.
fn create(
    import: &ImportRow,
    errors: &mut FieldErrors,
    creation: &mut Option<Creation>,
) -> Option<RowOutcome> {
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
        *creation = Some(Creation {
            name: name.as_str().to_owned(),
            email: import.email.as_str().to_owned(),
            is_admin,
            status,
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
    import: &ImportRow,
    user: &UserRow,
    errors: &mut FieldErrors,
    planned: &mut Option<Alteration>,
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
    let stored_status = user.status;
    let status = import.status.unwrap_or(stored_status);
    if status != stored_status {
        changes.insert("status", [json!(stored_status), json!(status)]);
        alteration.status = Some(status);
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
        *planned = Some(alteration);
    }
    Some(RowOutcome {
        action: Action::Update,
        active_admin,
        changes,
    })
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
            status: UserStatus::Active,
            disabled_reason: None,
            disabled_at: None,
            deleted_at: None,
            last_login_at: None,
            external_id: None,
            scim_profile: None,
            roles: vec![],
            groups: sqlx::types::Json(vec![]),
            permissions: vec![],
        }
    }

    /// Plans a CSV against users matched by lower-cased email, in batches of
    /// `batch` rows.
    fn plan_in_batches(csv: &str, users: &[UserRow], batch: usize) -> (Plan, BatchWrites) {
        let rows = read_rows(csv.as_bytes(), ImportFormat::Csv).unwrap();
        let mut planner = Planner::new(
            users
                .iter()
                .filter(|u| u.is_admin && u.status == UserStatus::Active)
                .map(|u| u.id)
                .collect(),
        );
        let mut all = BatchWrites::default();
        for rows in rows.chunks(batch) {
            let emails = lookup_emails(rows);
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
            // Every existing user in these tests can log in.
            let with_password = users.iter().map(|u| u.id).collect();
            let parsed = planner.parse(
                rows,
                &emails,
                Stored {
                    matches,
                    with_password,
                },
            );
            let writes = planner.plan(parsed, &HashMap::new());
            all.creations.extend(writes.creations);
            all.alterations.extend(writes.alterations);
        }
        if !planner.is_valid_so_far() {
            all = BatchWrites::default();
        }
        (planner.finish(), all)
    }

    fn plan(csv: &str, users: &[UserRow]) -> Plan {
        plan_in_batches(csv, users, 2).0
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

        let (plan, writes) =
            plan_in_batches("email,name\nada@x.com,Ada L\nbob@x.com,Bob\n", &users, 1);
        assert!(plan.is_valid());
        assert_eq!(plan.rows[0].changes["name"], [json!("Ada"), json!("Ada L")]);
        assert_eq!(writes.alterations.len(), 1);
        assert_eq!(writes.creations[0].status, UserStatus::Active);
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
        // A new admin made by the same file has no password: it cannot log in,
        // so it does not count.
        let plan = self::plan(
            "email,name,is_admin\nroot@x.com,Root,false\nnew@x.com,New,true\n",
            &users,
        );
        assert_eq!(plan.rows[0].action, Action::Error);
    }

    #[test]
    fn the_digest_moves_when_a_matched_user_changes() {
        let mut users = [user(1, "Root", "root@x.com", true)];
        let before = plan("email,name\nroot@x.com,R\n", &users).digest();
        assert_eq!(before, plan("email,name\nroot@x.com,R\n", &users).digest());
        users[0].version += 1;
        assert_ne!(before, plan("email,name\nroot@x.com,R\n", &users).digest());
    }

    #[test]
    fn a_large_file_lists_the_first_rows_of_each_kind_and_counts_them_all() {
        let users = [user(1, "Root", "root@x.com", true)];
        let mut csv = String::from("email,name\n");
        for i in 0..2_500 {
            csv.push_str(&format!("new{i}@x.com,New {i}\n"));
            csv.push_str(&format!("bad{i},Bad\n"));
        }
        // A repeat far apart, in another batch, is still named.
        csv.push_str("NEW7@x.com,Again\n");
        let (plan, writes) = plan_in_batches(&csv, &users, 300);
        assert_eq!(plan.counts.create, 2_500);
        assert_eq!(plan.counts.error, 2_501);
        assert_eq!(plan.errors().count(), LISTED_ROWS);
        assert_eq!(plan.changes().count(), LISTED_ROWS);
        assert_eq!(plan.omitted, 5_001 - 2 * LISTED_ROWS as u64);
        assert!(plan.rows.windows(2).all(|w| w[0].line < w[1].line));
        assert_eq!(plan.errors().next().unwrap().line, 3);
        assert!(
            writes.creations.is_empty(),
            "a file with errors writes nothing"
        );

        let (plan, _) = plan_in_batches("email,name\na@x.com,A\nb@x.com,B\nA@X.com,A\n", &users, 1);
        assert_eq!(plan.rows[2].errors.get("email"), ["is also on line 2"]);
    }

    #[test]
    fn the_last_admin_rule_looks_at_the_whole_file() {
        let users = [
            user(1, "Root", "root@x.com", true),
            user(2, "Ada", "ada@x.com", false),
        ];
        // The demotion comes in the first batch, the promotion of a user who can
        // log in in a later one.
        let (plan, _) = plan_in_batches(
            "email,name,is_admin\nroot@x.com,Root,false\nx@x.com,X,false\nada@x.com,Ada,true\n",
            &users,
            1,
        );
        assert!(plan.is_valid(), "{:?}", plan.rows);
        let (plan, writes) = plan_in_batches(
            "email,is_admin\nroot@x.com,false\nx@x.com,false\n",
            &users,
            1,
        );
        assert_eq!(plan.rows[0].action, Action::Error);
        assert_eq!((plan.counts.update, plan.counts.error), (0, 2));
        assert_eq!(plan.rows.len(), 2);
        assert!(writes.alterations.is_empty());
    }
}
