use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::UserStatus;

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 1000;
const DEFAULT_PAGE_SIZE: u32 = 50;
/// The longest search (`q`) a list takes.
pub const MAX_SEARCH_CHARS: usize = 200;

/// The column a list is ordered by; the id always breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    Id,
    Name,
    Email,
    CreatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortOrder {
    #[serde(rename = "a")]
    Ascending,
    #[serde(rename = "d")]
    Descending,
}

impl SortKey {
    /// The column name; a fixed string, so it can be put into SQL text safely.
    pub fn column(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Name => "name",
            Self::Email => "email",
            Self::CreatedAt => "created_at",
        }
    }
}

/// Where the previous page ended: the sort value and id of its last row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub sort: SortKey,
    #[serde(rename = "o")]
    pub order: SortOrder,
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub key: Option<CursorKey>,
    #[serde(rename = "i")]
    pub id: i64,
}

/// The last row's sort value (absent when sorting by id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CursorKey {
    Text(String),
    /// Microseconds since the epoch: PostgreSQL's own precision, so no row is skipped.
    Micros(i64),
}

impl Cursor {
    /// The opaque form sent to clients as `next`.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a cursor always serialises");
        URL_SAFE_NO_PAD.encode(json)
    }

    fn decode(raw: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// A bad list parameter; the message says which and why (answered as 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ListQueryError(String);

/// The list parameters as they arrive in the query string.
#[derive(Debug, Default, Deserialize)]
pub struct RawListQuery {
    pub limit: Option<String>,
    pub after: Option<String>,
    pub before: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub status: Option<String>,
    pub is_admin: Option<String>,
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    pub last_login_before: Option<String>,
    pub group: Option<String>,
    pub role: Option<String>,
}

/// Which users a list shows, beside the search (deleted users never).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserFilters {
    pub status: Option<UserStatus>,
    pub is_admin: Option<bool>,
    pub created_after: Option<OffsetDateTime>,
    pub created_before: Option<OffsetDateTime>,
    /// Dormant accounts: last logged in before this time, or never.
    pub last_login_before: Option<OffsetDateTime>,
    /// Members of this group (SPEC §14).
    pub group: Option<i64>,
    /// Holders of the role with this name (directly or through a group),
    /// lower-cased as names compare.
    pub role: Option<String>,
}

impl UserFilters {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    fn parse(raw: &mut RawListQuery) -> Result<Self, ListQueryError> {
        let present =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let status = present(raw.status.take())
            .map(|v| {
                UserStatus::parse(&v)
                    .ok_or_else(|| ListQueryError("status must be active or disabled".into()))
            })
            .transpose()?;
        let is_admin = present(raw.is_admin.take())
            .map(|v| match v.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ListQueryError("is_admin must be true or false".into())),
            })
            .transpose()?;
        let time = |name: &str, value: Option<String>| {
            present(value)
                .map(|v| {
                    parse_time(&v).ok_or_else(|| {
                        ListQueryError(format!(
                            "{name} must be a time such as 2026-12-01T09:30:00Z \
                             or a date such as 2026-12-01 (midnight UTC)"
                        ))
                    })
                })
                .transpose()
        };
        let group = present(raw.group.take())
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| ListQueryError("group must be a group's id".into()))
            })
            .transpose()?;
        let role = present(raw.role.take())
            .map(|v| {
                super::access::RoleName::parse(&v)
                    .map(|name| name.as_str().to_lowercase())
                    .map_err(|e| ListQueryError(format!("role {e}")))
            })
            .transpose()?;
        Ok(Self {
            status,
            is_admin,
            group,
            role,
            created_after: time("created_after", raw.created_after.take())?,
            created_before: time("created_before", raw.created_before.take())?,
            last_login_before: time("last_login_before", raw.last_login_before.take())?,
        })
    }

    /// The filters that are set, as query-string names and values, in one order
    /// (times in RFC 3339).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(status) = self.status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        if let Some(is_admin) = self.is_admin {
            pairs.push(("is_admin", is_admin.to_string()));
        }
        if let Some(group) = self.group {
            pairs.push(("group", group.to_string()));
        }
        if let Some(role) = &self.role {
            pairs.push(("role", role.clone()));
        }
        for (name, at) in [
            ("created_after", self.created_after),
            ("created_before", self.created_before),
            ("last_login_before", self.last_login_before),
        ] {
            if let Some(at) = at.and_then(|at| at.format(&Rfc3339).ok()) {
                pairs.push((name, at));
            }
        }
        pairs
    }

    fn append_to(&self, pairs: &mut form_urlencoded::Serializer<'_, String>) {
        for (name, value) in self.pairs() {
            pairs.append_pair(name, &value);
        }
    }
}

/// An RFC 3339 time, or a plain `YYYY-MM-DD` date (what an HTML date input
/// sends) taken as midnight UTC at the start of that day.
fn parse_time(text: &str) -> Option<OffsetDateTime> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .ok()
        .map(|day| day.midnight().assume_utc())
}

/// A validated request for one page of users.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub limit: u32,
    pub sort: SortKey,
    pub order: SortOrder,
    /// Case-insensitive substring of name or email; `None` when absent or blank.
    pub search: Option<String>,
    /// Start after this row (the `next` of the page before).
    pub after: Option<Cursor>,
    /// End before this row (the `prev` of the page after): paging backwards.
    pub before: Option<Cursor>,
    pub filters: UserFilters,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            limit: DEFAULT_PAGE_SIZE,
            sort: SortKey::Id,
            order: SortOrder::Ascending,
            search: None,
            after: None,
            before: None,
            filters: UserFilters::default(),
        }
    }
}

impl ListQuery {
    pub fn parse(mut raw: RawListQuery) -> Result<Self, ListQueryError> {
        let filters = UserFilters::parse(&mut raw)?;
        let limit = match raw.limit.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_PAGE_SIZE,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                _ => {
                    return Err(ListQueryError(format!(
                        "limit must be an integer from 1 to {MAX_PAGE_SIZE}"
                    )));
                }
            },
        };
        let (sort, order) = parse_sort(raw.sort.as_deref().unwrap_or("").trim())?;
        let search = match raw.q {
            Some(q) if !q.trim().is_empty() => {
                let q = q.trim();
                if q.chars().count() > MAX_SEARCH_CHARS {
                    return Err(ListQueryError(format!(
                        "q must be at most {MAX_SEARCH_CHARS} characters"
                    )));
                }
                if q.contains('\0') {
                    return Err(ListQueryError("q must not contain NUL characters".into()));
                }
                Some(q.to_owned())
            }
            _ => None,
        };
        let cursor = |name: &str, raw: Option<String>| match raw.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => Cursor::decode(text)
                .filter(|c| c.sort == sort && c.order == order && key_fits(sort, &c.key))
                .map(Some)
                .ok_or_else(|| {
                    ListQueryError(format!(
                        "{name} must be a cursor from a list with the same sort"
                    ))
                }),
        };
        let after = cursor("after", raw.after)?;
        let before = cursor("before", raw.before)?;
        if after.is_some() && before.is_some() {
            return Err(ListQueryError("send after or before, not both".into()));
        }
        Ok(Self {
            limit,
            sort,
            order,
            search,
            after,
            before,
            filters,
        })
    }

    /// One canonical text per distinct query, for cache keys: every parameter,
    /// in one order, one spelling.
    pub fn canonical(&self) -> String {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        pairs.append_pair("limit", &self.limit.to_string());
        pairs.append_pair("sort", &sort_param(self.sort, self.order));
        if let Some(q) = &self.search {
            pairs.append_pair("q", q);
        }
        self.filters.append_to(&mut pairs);
        if let Some(after) = &self.after {
            pairs.append_pair("after", &after.encode());
        }
        if let Some(before) = &self.before {
            pairs.append_pair("before", &before.encode());
        }
        pairs.finish()
    }

    /// The query string of this search in the given order, from its first page
    /// or from a cursor: what the list page links to. The limit is left out
    /// when it is the default.
    pub fn link(&self, sort: SortKey, order: SortOrder, from: Option<PageCursor<'_>>) -> String {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        if let Some(q) = &self.search {
            pairs.append_pair("q", q);
        }
        pairs.append_pair("sort", &sort_param(sort, order));
        self.filters.append_to(&mut pairs);
        if self.limit != DEFAULT_PAGE_SIZE {
            pairs.append_pair("limit", &self.limit.to_string());
        }
        match from {
            Some(PageCursor::After(cursor)) => {
                pairs.append_pair("after", cursor);
            }
            Some(PageCursor::Before(cursor)) => {
                pairs.append_pair("before", cursor);
            }
            None => {}
        }
        pairs.finish()
    }

    /// This query's own `sort` parameter (`-name`).
    pub fn sort_param(&self) -> String {
        sort_param(self.sort, self.order)
    }
}

/// Where a linked page starts: after the `next` cursor or before the `prev` one.
#[derive(Debug, Clone, Copy)]
pub enum PageCursor<'a> {
    After(&'a str),
    Before(&'a str),
}

/// `sort` as written in a query string: the column, `-` first for descending.
fn sort_param(sort: SortKey, order: SortOrder) -> String {
    let sign = match order {
        SortOrder::Ascending => "",
        SortOrder::Descending => "-",
    };
    format!("{sign}{}", sort.column())
}

fn parse_sort(raw: &str) -> Result<(SortKey, SortOrder), ListQueryError> {
    let (order, name) = match raw.strip_prefix('-') {
        Some(rest) => (SortOrder::Descending, rest),
        None => (SortOrder::Ascending, raw),
    };
    let key = match name {
        // Only an absent sort means the default; a bare "-" names no column.
        "" if order == SortOrder::Ascending => SortKey::Id,
        "id" => SortKey::Id,
        "name" => SortKey::Name,
        "email" => SortKey::Email,
        "created_at" => SortKey::CreatedAt,
        _ => {
            return Err(ListQueryError(
                "sort must be one of id, name, email, created_at, optionally prefixed with -"
                    .into(),
            ));
        }
    };
    Ok((key, order))
}

/// A cursor's key must be of the sort's kind, and one the database can compare
/// with (no NUL in text, a representable time): a crafted cursor is a 400.
fn key_fits(sort: SortKey, key: &Option<CursorKey>) -> bool {
    match (sort, key) {
        (SortKey::Id, None) => true,
        (SortKey::Name | SortKey::Email, Some(CursorKey::Text(text))) => {
            !text.contains('\0') && text.chars().count() <= 200
        }
        (SortKey::CreatedAt, Some(CursorKey::Micros(micros))) => {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(*micros) * 1000).is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ListQuery, ListQueryError> {
        let mut raw = RawListQuery::default();
        for (k, v) in pairs {
            let v = Some(v.to_string());
            match *k {
                "limit" => raw.limit = v,
                "after" => raw.after = v,
                "before" => raw.before = v,
                "q" => raw.q = v,
                "sort" => raw.sort = v,
                "status" => raw.status = v,
                "is_admin" => raw.is_admin = v,
                "created_after" => raw.created_after = v,
                "created_before" => raw.created_before = v,
                "last_login_before" => raw.last_login_before = v,
                "group" => raw.group = v,
                "role" => raw.role = v,
                _ => unreachable!(),
            }
        }
        ListQuery::parse(raw)
    }

    #[test]
    fn defaults_are_fifty_by_id() {
        assert_eq!(parse(&[]).unwrap(), ListQuery::default());
    }

    #[test]
    fn limit_must_be_between_one_and_a_thousand() {
        assert_eq!(parse(&[("limit", "1000")]).unwrap().limit, 1000);
        for bad in ["0", "1001", "-1", "ten", "1e3"] {
            assert!(parse(&[("limit", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn sort_accepts_the_four_columns_both_ways() {
        let q = parse(&[("sort", "-created_at")]).unwrap();
        assert_eq!(
            (q.sort, q.order),
            (SortKey::CreatedAt, SortOrder::Descending)
        );
        assert!(parse(&[("sort", "password_hash")]).is_err());
        assert_eq!(parse(&[("sort", "")]).unwrap().sort, SortKey::Id);
        assert!(parse(&[("sort", "name; drop table users")]).is_err());
    }

    #[test]
    fn a_minus_must_be_followed_by_a_column() {
        for bad in ["-", " - ", "--", "--id", "-ID", "-unknown", "- id"] {
            assert!(parse(&[("sort", bad)]).is_err(), "{bad:?}");
        }
        let q = parse(&[("sort", "-id")]).unwrap();
        assert_eq!((q.sort, q.order), (SortKey::Id, SortOrder::Descending));
    }

    #[test]
    fn a_cursor_round_trips_and_must_match_the_sort() {
        let cursor = Cursor {
            sort: SortKey::Name,
            order: SortOrder::Descending,
            key: Some(CursorKey::Text("Zoë".into())),
            id: 7,
        };
        let q = parse(&[("sort", "-name"), ("after", &cursor.encode())]).unwrap();
        assert_eq!(q.after, Some(cursor.clone()));
        assert!(parse(&[("sort", "name"), ("after", &cursor.encode())]).is_err());
        assert!(parse(&[("after", "not a cursor")]).is_err());
        for crafted in [
            Cursor {
                sort: SortKey::Name,
                order: SortOrder::Ascending,
                key: Some(CursorKey::Text("a\0".into())),
                id: 1,
            },
            Cursor {
                sort: SortKey::CreatedAt,
                order: SortOrder::Ascending,
                key: Some(CursorKey::Micros(i64::MAX)),
                id: 1,
            },
            Cursor {
                sort: SortKey::CreatedAt,
                order: SortOrder::Ascending,
                key: Some(CursorKey::Micros(253_402_300_800_000_000)),
                id: 1,
            },
        ] {
            let sort = if crafted.sort == SortKey::Name {
                "name"
            } else {
                "created_at"
            };
            assert!(
                parse(&[("sort", sort), ("after", &crafted.encode())]).is_err(),
                "{crafted:?}"
            );
        }
        let both = parse(&[
            ("sort", "-name"),
            ("after", &cursor.encode()),
            ("before", &cursor.encode()),
        ]);
        assert!(both.is_err());
    }

    #[test]
    fn canonical_text_ignores_surrounding_blanks_and_defaults() {
        let a = parse(&[("q", "alice"), ("limit", "")]).unwrap();
        let b = parse(&[("q", " alice "), ("limit", "50"), ("sort", "id")]).unwrap();
        assert_eq!(a.canonical(), b.canonical());
        assert_ne!(a.canonical(), parse(&[("q", "bob")]).unwrap().canonical());
        assert_eq!(parse(&[("q", "  ")]).unwrap().search, None);
    }

    #[test]
    fn a_plain_date_is_midnight_utc_and_a_time_is_kept() {
        let q = parse(&[
            ("created_after", "2026-12-01"),
            ("created_before", " 2026-12-31 "),
            ("last_login_before", "2026-06-15T09:30:00+02:00"),
        ])
        .unwrap();
        let f = &q.filters;
        assert_eq!(
            f.created_after,
            Some(time::macros::datetime!(2026-12-01 00:00 UTC))
        );
        assert_eq!(
            f.created_before,
            Some(time::macros::datetime!(2026-12-31 00:00 UTC))
        );
        assert_eq!(
            f.last_login_before,
            Some(time::macros::datetime!(2026-06-15 07:30 UTC))
        );
        // A date and the time it stands for are one query (one cache key), and
        // links carry the full time.
        let spelled = parse(&[("created_after", "2026-12-01T00:00:00Z")]).unwrap();
        let dated = parse(&[("created_after", "2026-12-01")]).unwrap();
        assert_eq!(dated.canonical(), spelled.canonical());
        assert!(
            dated
                .link(SortKey::Id, SortOrder::Ascending, None)
                .contains("created_after=2026-12-01T00%3A00%3A00Z")
        );
    }

    #[test]
    fn a_date_must_be_a_real_day_in_the_iso_form() {
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "2026-1-5",
            "01/12/2026",
            "2026-12-01T09:30",
            "2026-12-01 09:30:00",
            "monday",
            "1",
        ] {
            let error = parse(&[("created_after", bad)]).unwrap_err();
            assert!(
                error.to_string().starts_with("created_after must be"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn group_and_role_filters_parse_and_canonicalise() {
        let q = parse(&[("group", "7"), ("role", " HelpDesk ")]).unwrap();
        assert_eq!(q.filters.group, Some(7));
        assert_eq!(q.filters.role.as_deref(), Some("helpdesk"));
        assert_eq!(
            q.canonical(),
            parse(&[("role", "helpdesk"), ("group", "7")])
                .unwrap()
                .canonical()
        );
        for bad in ["0", "-1", "x", "1.5"] {
            assert!(parse(&[("group", bad)]).is_err(), "{bad}");
        }
        assert!(parse(&[("role", &"r".repeat(101))]).is_err());
    }

    #[test]
    fn blank_filters_are_no_filters() {
        let q = parse(&[
            ("status", ""),
            ("is_admin", " "),
            ("created_after", ""),
            ("created_before", ""),
            ("last_login_before", ""),
            ("group", ""),
            ("role", " "),
        ])
        .unwrap();
        assert!(q.filters.is_empty());
        assert_eq!(q.canonical(), parse(&[]).unwrap().canonical());
    }
}
