/// Which versions of a record a conditional write may change: what the client
/// last read (`If-Match`, or the version an edit form was filled from).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ExpectedVersion {
    /// No condition (no `If-Match`, or `*`).
    #[default]
    Any,
    /// One of these; an empty list matches nothing (entity tags that are not ours).
    OneOf(Vec<i32>),
}

impl ExpectedVersion {
    /// The versions to accept, or `None` for any.
    pub fn versions(&self) -> Option<&[i32]> {
        match self {
            Self::Any => None,
            Self::OneOf(versions) => Some(versions),
        }
    }

    /// This condition, or when there is none, `fallback`'s.
    pub fn or(self, fallback: Option<i32>) -> Self {
        match (self, fallback) {
            (Self::Any, Some(version)) => Self::OneOf(vec![version]),
            (condition, _) => condition,
        }
    }

    /// The version to show again in a re-rendered edit form.
    pub fn first(&self) -> Option<i32> {
        self.versions().and_then(|v| v.first().copied())
    }
}
