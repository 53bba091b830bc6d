//! A list or search request (RFC 7644 §3.4.2, §3.4.3): filter, paging, sorting
//! and the attributes to return, from a query string or a `.search` body.

use serde::Deserialize;
use serde_json::Value;

use super::{
    attributes::Projection,
    error::{ScimError, ScimType},
};
use crate::domain::scim_filter::{Attribute, Filter, GroupCondition, strip_group_schema};

/// Results per page when `count` is not given.
pub const DEFAULT_COUNT: i64 = 100;

/// The most results a page holds (`filter.maxResults` in the configuration).
pub const MAX_COUNT: i64 = 1000;

#[derive(Debug)]
pub struct ListRequest {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: i64,
    pub count: i64,
    pub sort: Option<(Attribute, bool)>,
    pub projection: Projection,
}

/// The query string of `GET /Users`, as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    filter: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

/// A `.search` body, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchBody {
    filter: Option<String>,
    start_index: Option<Value>,
    count: Option<Value>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    #[serde(default)]
    attributes: Vec<String>,
    #[serde(default)]
    excluded_attributes: Vec<String>,
}

fn integer(raw: Option<&str>, name: &str) -> Result<Option<i64>, ScimError> {
    raw.map(|raw| {
        raw.trim()
            .parse::<i64>()
            .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer")))
    })
    .transpose()
}

fn json_integer(raw: Option<&Value>, name: &str) -> Result<Option<i64>, ScimError> {
    match raw {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ScimError::invalid_value(format!("{name} must be an integer"))),
        Some(Value::String(s)) => integer(Some(s), name),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{name} must be an integer"
        ))),
    }
}

impl ListRequest {
    pub fn from_params(params: ListParams) -> Result<Self, ScimError> {
        let list = |raw: Option<String>| raw.map(|s| vec![s]).unwrap_or_default();
        Self::build(
            params.filter.as_deref(),
            integer(params.start_index.as_deref(), "startIndex")?,
            integer(params.count.as_deref(), "count")?,
            params.sort_by.as_deref(),
            params.sort_order.as_deref(),
            Projection::new(&list(params.attributes), &list(params.excluded_attributes)),
        )
    }

    pub fn from_search(body: SearchBody) -> Result<Self, ScimError> {
        Self::build(
            body.filter.as_deref(),
            json_integer(body.start_index.as_ref(), "startIndex")?,
            json_integer(body.count.as_ref(), "count")?,
            body.sort_by.as_deref(),
            body.sort_order.as_deref(),
            Projection::new(&body.attributes, &body.excluded_attributes),
        )
    }

    fn build(
        filter: Option<&str>,
        start_index: Option<i64>,
        count: Option<i64>,
        sort_by: Option<&str>,
        sort_order: Option<&str>,
        projection: Projection,
    ) -> Result<Self, ScimError> {
        let filter = filter
            .filter(|f| !f.trim().is_empty())
            .map(|text| {
                Filter::parse(text)
                    .map_err(|e| ScimError::bad_request(ScimType::InvalidFilter, e.to_string()))
            })
            .transpose()?;
        let descending = match sort_order.map(str::trim) {
            None | Some("") => false,
            Some(order) if order.eq_ignore_ascii_case("ascending") => false,
            Some(order) if order.eq_ignore_ascii_case("descending") => true,
            Some(_) => {
                return Err(ScimError::invalid_value(
                    "sortOrder must be ascending or descending",
                ));
            }
        };
        let sort = sort_by
            .filter(|s| !s.trim().is_empty())
            .map(|path| {
                Attribute::resolve(path.trim())
                    .map(|attribute| (attribute, descending))
                    .ok_or_else(|| ScimError::invalid_value(format!("cannot sort by '{path}'")))
            })
            .transpose()?;
        let (start_index, count) = paging(start_index, count);
        Ok(Self {
            filter,
            start_index,
            count,
            sort,
            projection,
        })
    }
}

/// RFC 7644 §3.4.2.4: a `startIndex` below 1 is read as 1, a negative `count`
/// as 0; at most [`MAX_COUNT`].
fn paging(start_index: Option<i64>, count: Option<i64>) -> (i64, i64) {
    (
        start_index.unwrap_or(1).max(1),
        count.unwrap_or(DEFAULT_COUNT).clamp(0, MAX_COUNT),
    )
}

/// A list or search request over groups: their filters are
/// [`GroupCondition`]s, and they are listed by `displayName`.
#[derive(Debug)]
pub struct GroupListRequest {
    pub conditions: Vec<GroupCondition>,
    /// 1-based.
    pub start_index: i64,
    pub count: i64,
    pub projection: Projection,
}

impl GroupListRequest {
    pub fn from_params(params: ListParams) -> Result<Self, ScimError> {
        let list = |raw: Option<String>| raw.map(|s| vec![s]).unwrap_or_default();
        Self::build(
            params.filter.as_deref(),
            integer(params.start_index.as_deref(), "startIndex")?,
            integer(params.count.as_deref(), "count")?,
            (params.sort_by.as_deref(), params.sort_order.as_deref()),
            Projection::new(&list(params.attributes), &list(params.excluded_attributes)),
        )
    }

    pub fn from_search(body: SearchBody) -> Result<Self, ScimError> {
        Self::build(
            body.filter.as_deref(),
            json_integer(body.start_index.as_ref(), "startIndex")?,
            json_integer(body.count.as_ref(), "count")?,
            (body.sort_by.as_deref(), body.sort_order.as_deref()),
            Projection::new(&body.attributes, &body.excluded_attributes),
        )
    }

    fn build(
        filter: Option<&str>,
        start_index: Option<i64>,
        count: Option<i64>,
        (sort_by, sort_order): (Option<&str>, Option<&str>),
        projection: Projection,
    ) -> Result<Self, ScimError> {
        let conditions = match filter.filter(|f| !f.trim().is_empty()) {
            None => Vec::new(),
            Some(text) => GroupCondition::parse_all(text)
                .map_err(|e| ScimError::bad_request(ScimType::InvalidFilter, e.to_string()))?,
        };
        // Groups are listed by name, ascending: that sort is the only one.
        let by_name = sort_by
            .map(|s| strip_group_schema(s.trim()))
            .is_none_or(|s| s.is_empty() || s.eq_ignore_ascii_case("displayName"));
        let ascending = sort_order
            .map(str::trim)
            .is_none_or(|o| o.is_empty() || o.eq_ignore_ascii_case("ascending"));
        if !by_name || !ascending {
            return Err(ScimError::invalid_value(
                "groups are sorted by displayName, ascending, only",
            ));
        }
        let (start_index, count) = paging(start_index, count);
        Ok(Self {
            conditions,
            start_index,
            count,
            projection,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_is_clamped_as_the_rfc_says() {
        let request = ListRequest::from_params(ListParams {
            start_index: Some("-3".into()),
            count: Some("5000".into()),
            ..ListParams::default()
        })
        .unwrap();
        assert_eq!((request.start_index, request.count), (1, MAX_COUNT));
        let bad = ListRequest::from_params(ListParams {
            count: Some("ten".into()),
            ..ListParams::default()
        })
        .unwrap_err();
        assert_eq!(bad.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn a_bad_filter_is_an_invalid_filter() {
        let bad = ListRequest::from_params(ListParams {
            filter: Some("userName eq".into()),
            ..ListParams::default()
        })
        .unwrap_err();
        assert_eq!(bad.scim_type, Some(ScimType::InvalidFilter));
        assert_eq!(bad.status, axum::http::StatusCode::BAD_REQUEST);
    }
}
