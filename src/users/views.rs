use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::views::UserView;

/// Where a list came from: `"cache"` only on a cache hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Cache,
    Database,
}

/// One page of `GET /users`, without its `source`: the form it is cached in.
#[derive(Debug, Serialize, Deserialize)]
pub struct UserPage {
    pub data: Vec<UserView>,
    pub next: Option<String>,
    /// Cursor for `before=`: the page before this one (not in the original contract).
    pub prev: Option<String>,
    pub total: i64,
    /// True when `total` is only the cap of a search's count (see
    /// [`UserListResponse::total_is_lower_bound`]); absent from pages cached
    /// before it was added.
    #[serde(default)]
    pub total_is_lower_bound: bool,
}

impl UserPage {
    /// The page as JSON bytes, as they are cached.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("a page always serialises"))
    }
}

/// The shape of `GET /users` for the API document: what [`user_page_response`]
/// writes (a test checks they agree).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserListResponse {
    /// `cache` when the page came from the cache, `database` otherwise.
    pub source: Source,
    pub data: Vec<UserView>,
    /// Send as `after` (with the same `q`, `sort` and `limit`) for the next page.
    pub next: Option<String>,
    /// Send as `before` for the previous page.
    pub prev: Option<String>,
    /// How many users match `q` (all users without it); exact unless
    /// `total_is_lower_bound`.
    pub total: i64,
    /// True only for a search matching more than 10,000 users: `total` is then
    /// 10,000 and the true number is larger. Lists without `q` are always
    /// counted exactly.
    pub total_is_lower_bound: bool,
}

/// The response body of `GET /users`: `{"source": …}` followed by the fields of a
/// serialised [`UserPage`], so a cached page is sent without being parsed again.
/// The two parts go out as two chunks of one vectored write: a 300 KB page is
/// neither joined to its head nor copied on its way to the socket.
pub fn user_page_response(source: Source, page: Bytes) -> Response {
    let head = Bytes::from_static(match source {
        Source::Cache => br#"{"source":"cache","#,
        Source::Database => br#"{"source":"database","#,
    });
    let fields = match page.first() {
        Some(b'{') => page.slice(1..),
        _ => page,
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        axum::body::Body::new(TwoParts([Some(head), Some(fields)])),
    )
        .into_response()
}

/// A body of two byte strings sent one after the other, with its exact length
/// known up front (so the answer carries `Content-Length`, not chunks).
struct TwoParts([Option<Bytes>; 2]);

impl http_body::Body for TwoParts {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let next = self.0.iter_mut().find_map(Option::take);
        std::task::Poll::Ready(next.map(|part| Ok(http_body::Frame::data(part))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let length = self.0.iter().flatten().map(|part| part.len() as u64).sum();
        http_body::SizeHint::with_exact(length)
    }
}
