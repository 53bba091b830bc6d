//! Bodies as clients send them (JSON or form): wire types, which carry what only
//! the HTTP layer cares about (the form's CSRF token, the version an edit form
//! was filled from), and which turn into domain values at once.

use serde::Deserialize;

use crate::domain::UserFields;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<UserInput>(r#"{"name":"a","emial":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `emial`"));
    }
}
