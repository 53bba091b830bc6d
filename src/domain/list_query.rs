use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 1000;
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_SEARCH_CHARS: usize = 200;

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
        }
    }
}

impl ListQuery {
    pub fn parse(raw: RawListQuery) -> Result<Self, ListQueryError> {
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
}
