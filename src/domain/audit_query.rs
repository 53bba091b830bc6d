use serde::Deserialize;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::MAX_PAGE_SIZE;

const DEFAULT_PAGE_SIZE: u32 = 50;

/// Whose events to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditActorFilter {
    Admin(i64),
    Token(i64),
    Cli,
    Sql,
    /// An admin by email (any case): the admin who has it now, and events
    /// recorded under it.
    AdminEmail(String),
}

/// The `GET /audit` parameters as they arrive in the query string.
#[derive(Debug, Default, Deserialize)]
pub struct RawAuditQuery {
    pub limit: Option<String>,
    pub after: Option<String>,
    pub subject: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

/// A validated request for one page of the audit trail, newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditQuery {
    pub limit: u32,
    /// Events older than this one (the `next` of the page before).
    pub before_id: Option<i64>,
    /// `user:42`: the subject's type and id.
    pub subject: Option<(String, i64)>,
    pub actor: Option<AuditActorFilter>,
    /// A prefix of the action (`user.`, `user.updated`).
    pub action: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

/// A bad parameter; the message says which and why (answered as 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct AuditQueryError(String);

fn bad(message: impl Into<String>) -> AuditQueryError {
    AuditQueryError(message.into())
}

fn present(raw: Option<String>) -> Option<String> {
    raw.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl AuditQuery {
    pub fn parse(raw: RawAuditQuery) -> Result<Self, AuditQueryError> {
        let limit = match present(raw.limit) {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| {
                    bad(format!(
                        "limit must be an integer from 1 to {MAX_PAGE_SIZE}"
                    ))
                })?,
        };
        let before_id = present(raw.after)
            .map(|text| {
                text.parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| bad("after must be the `next` of an earlier page"))
            })
            .transpose()?;
        let subject = present(raw.subject)
            .map(|text| {
                let parsed = text.split_once(':').and_then(|(kind, id)| {
                    let id = id.parse::<i64>().ok()?;
                    matches!(kind, "user" | "token" | "webhook" | "group" | "role")
                        .then(|| (kind.to_owned(), id))
                });
                parsed.ok_or_else(|| bad("subject must look like user:42 or token:7"))
            })
            .transpose()?;
        let actor = present(raw.actor).map(parse_actor).transpose()?;
        let action = present(raw.action)
            .map(|text| {
                let fits = text.len() <= 64
                    && text.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_'
                    });
                if fits {
                    Ok(text)
                } else {
                    Err(bad(
                        "action must be an action or its beginning, such as user. or user.updated",
                    ))
                }
            })
            .transpose()?;
        let time = |name: &str, raw: Option<String>, end_of_day: bool| {
            present(raw)
                .map(|text| {
                    parse_time(&text, end_of_day).ok_or_else(|| {
                        bad(format!(
                            "{name} must be a time such as 2026-12-01 09:30 (UTC), a date such \
                             as 2026-12-01, or 2026-12-01T09:30:00Z"
                        ))
                    })
                })
                .transpose()
        };
        Ok(Self {
            limit,
            before_id,
            subject,
            actor,
            action,
            since: time("since", raw.since, false)?,
            until: time("until", raw.until, true)?,
        })
    }

    /// The query string of this search from the page after `cursor` (or the
    /// first page): what the pages link to.
    pub fn link(&self, cursor: Option<i64>) -> String {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        if let Some((kind, id)) = &self.subject {
            pairs.append_pair("subject", &format!("{kind}:{id}"));
        }
        if let Some(actor) = &self.actor {
            let text = match actor {
                AuditActorFilter::Admin(id) => format!("admin:{id}"),
                AuditActorFilter::Token(id) => format!("token:{id}"),
                AuditActorFilter::Cli => "cli".into(),
                AuditActorFilter::Sql => "sql".into(),
                AuditActorFilter::AdminEmail(email) => email.clone(),
            };
            pairs.append_pair("actor", &text);
        }
        if let Some(action) = &self.action {
            pairs.append_pair("action", action);
        }
        for (name, at) in [("since", self.since), ("until", self.until)] {
            if let Some(at) = at.and_then(|at| at.format(&Rfc3339).ok()) {
                pairs.append_pair(name, &at);
            }
        }
        if self.limit != DEFAULT_PAGE_SIZE {
            pairs.append_pair("limit", &self.limit.to_string());
        }
        if let Some(cursor) = cursor {
            pairs.append_pair("after", &cursor.to_string());
        }
        pairs.finish()
    }
}

/// `admin:<id>`, `token:<id>`, `cli`, `sql`, or an admin's email (any case).
fn parse_actor(text: String) -> Result<AuditActorFilter, AuditQueryError> {
    let parsed = match text.split_once(':') {
        None if text.contains('@') && text.len() <= 320 => {
            Some(AuditActorFilter::AdminEmail(text.to_lowercase()))
        }
        None if text == "cli" => Some(AuditActorFilter::Cli),
        None if text == "sql" => Some(AuditActorFilter::Sql),
        Some(("admin", id)) => id.parse().ok().map(AuditActorFilter::Admin),
        Some(("token", id)) => id.parse().ok().map(AuditActorFilter::Token),
        _ => None,
    };
    parsed.ok_or_else(|| bad("actor must be an admin's email, admin:<id>, token:<id>, cli or sql"))
}

/// RFC 3339 (`2026-12-01T09:30:00Z`, what the API documents), or what a
/// page's `datetime-local` input sends (`2026-12-01T09:30`, with or without
/// seconds, a space for the `T` too), or a date: all read as UTC, as the pages
/// show times. A date alone is the start of that day, or for `until` (events
/// before it) the end of it, so that "until 2026-12-01" includes that day.
fn parse_time(text: &str, end_of_day: bool) -> Option<OffsetDateTime> {
    use time::macros::format_description;
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    let local = text.replacen(' ', "T", 1);
    let minutes = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    for format in [minutes, seconds] {
        if let Ok(at) = time::PrimitiveDateTime::parse(&local, format) {
            return Some(at.assume_utc());
        }
    }
    let day = time::Date::parse(text, format_description!("[year]-[month]-[day]")).ok()?;
    let day = if end_of_day { day.next_day()? } else { day };
    Some(day.midnight().assume_utc())
}

/// A time as a page's `datetime-local` input takes it (UTC, to the second),
/// to show a filter again; what is not a time is shown as typed.
pub fn time_input_value(text: &str) -> String {
    match OffsetDateTime::parse(text.trim(), &Rfc3339) {
        Ok(at) => {
            let utc = at.to_offset(time::UtcOffset::UTC);
            let format =
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            utc.format(format).unwrap_or_else(|_| text.to_owned())
        }
        Err(_) => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<AuditQuery, AuditQueryError> {
        let mut raw = RawAuditQuery::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "limit" => raw.limit = v,
                "after" => raw.after = v,
                "subject" => raw.subject = v,
                "actor" => raw.actor = v,
                "action" => raw.action = v,
                "since" => raw.since = v,
                "until" => raw.until = v,
                _ => unreachable!(),
            }
        }
        AuditQuery::parse(raw)
    }

    #[test]
    fn filters_parse_into_their_kinds() {
        let query = parse(&[
            ("subject", "user:42"),
            ("actor", "token:7"),
            ("action", "user."),
            ("since", "2026-12-01T00:00:00Z"),
            ("after", "900"),
        ])
        .unwrap();
        assert_eq!(query.subject, Some(("user".into(), 42)));
        assert_eq!(query.actor, Some(AuditActorFilter::Token(7)));
        assert_eq!(query.action.as_deref(), Some("user."));
        assert_eq!(query.before_id, Some(900));
        assert!(query.since.is_some() && query.until.is_none());
        assert_eq!(
            parse(&[("actor", "sql")]).unwrap().actor,
            Some(AuditActorFilter::Sql)
        );
        assert_eq!(parse(&[]).unwrap().limit, 50);
    }

    #[test]
    fn malformed_filters_are_refused() {
        for pairs in [
            [("subject", "user")],
            [("subject", "group:x")],
            [("subject", "team:1")],
            [("actor", "admin:x")],
            [("actor", "root")],
            [("action", "user%")],
            [("since", "yesterday")],
            [("limit", "0")],
            [("limit", "1001")],
            [("after", "-3")],
        ] {
            assert!(parse(&pairs).is_err(), "{pairs:?}");
        }
    }

    #[test]
    fn links_carry_the_filters_and_the_cursor() {
        let query = parse(&[("subject", "user:42"), ("action", "user.")]).unwrap();
        assert_eq!(
            query.link(Some(17)),
            "subject=user%3A42&action=user.&after=17"
        );
        assert_eq!(query.link(None), "subject=user%3A42&action=user.");
    }

    #[test]
    fn times_come_as_the_pages_send_them_and_as_rfc_3339() {
        let at = |text: &str, end: bool| parse_time(text, end).map(|t| t.format(&Rfc3339).unwrap());
        assert_eq!(
            at("2026-12-01T09:30", false).as_deref(),
            Some("2026-12-01T09:30:00Z")
        );
        assert_eq!(
            at("2026-12-01 09:30:15", false).as_deref(),
            Some("2026-12-01T09:30:15Z")
        );
        assert_eq!(
            at("2026-12-01T10:30:00+01:00", false).as_deref(),
            Some("2026-12-01T10:30:00+01:00")
        );
        assert_eq!(
            at("2026-12-01", false).as_deref(),
            Some("2026-12-01T00:00:00Z")
        );
        assert_eq!(
            at("2026-12-01", true).as_deref(),
            Some("2026-12-02T00:00:00Z")
        );
        assert_eq!(at("yesterday", false), None);
        assert_eq!(
            time_input_value("2026-12-01T10:30:00.5+01:00"),
            "2026-12-01T09:30:00"
        );
        assert_eq!(time_input_value("2026-12-01"), "2026-12-01");
    }

    #[test]
    fn an_email_names_an_admin() {
        let query = parse(&[("actor", "Ops@Example.com")]).unwrap();
        assert_eq!(
            query.actor,
            Some(AuditActorFilter::AdminEmail("ops@example.com".into()))
        );
        assert!(query.link(None).contains("actor=ops%40example.com"));
        assert!(parse(&[("actor", "root")]).is_err());
    }
}
