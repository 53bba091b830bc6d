//! What a new API token may do and for how long (SPEC §14, Tokens): its scopes
//! and its lifetime, parsed from what a client asked for.

use super::{Permission, PermissionSet};

/// The longest lifetime a token may be given when `TOKEN_MAX_DAYS=0` (no
/// ceiling): a hundred years, so the expiry stays a date.
pub const UNBOUNDED_MAX_DAYS: u32 = 36_500;

/// The scopes asked for: `None` (not given) is every permission the creator
/// holds; a list must name permissions, at least one.
pub fn scopes(names: Option<&[String]>, creator: PermissionSet) -> Result<PermissionSet, String> {
    let Some(names) = names else {
        return Ok(creator);
    };
    let set = PermissionSet::parse_all(names).map_err(|e| e.to_string())?;
    if set.is_empty() {
        return Err("choose at least one permission".into());
    }
    Ok(set)
}

/// The first permission in `scopes` that `creator` does not hold: a token may
/// not be given more than its creator holds.
pub fn exceeds(scopes: PermissionSet, creator: PermissionSet) -> Option<Permission> {
    creator.first_missing(scopes)
}

/// The lifetime in days (`None`: no expiry) for `requested` days under a
/// ceiling of `max_days` (`TOKEN_MAX_DAYS`; 0 means no ceiling and no expiry
/// by default). Omitted, it is the ceiling.
pub fn lifetime_days(requested: Option<i64>, max_days: u32) -> Result<Option<u32>, String> {
    match (requested, max_days) {
        (None, 0) | (Some(0), 0) => Ok(None),
        (None, max) => Ok(Some(max)),
        (Some(days), 0) => match u32::try_from(days) {
            Ok(days) if days <= UNBOUNDED_MAX_DAYS => Ok(Some(days)),
            _ => Err(format!(
                "must be 0 (no expiry) or a whole number of days up to {UNBOUNDED_MAX_DAYS}"
            )),
        },
        (Some(days), max) => match u32::try_from(days) {
            Ok(days @ 1..) if days <= max => Ok(Some(days)),
            _ => Err(format!(
                "must be a whole number of days from 1 to {max} (TOKEN_MAX_DAYS)"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_default_to_the_creators_and_must_be_known_and_not_empty() {
        let creator = PermissionSet::ALL;
        assert_eq!(scopes(None, creator), Ok(creator));
        let read = ["users.read".to_owned()];
        assert_eq!(
            scopes(Some(&read), creator),
            Ok(PermissionSet::EMPTY.with(Permission::UsersRead))
        );
        assert!(
            scopes(Some(&["users.nope".to_owned()]), creator)
                .unwrap_err()
                .contains("users.nope")
        );
        assert!(scopes(Some(&[]), creator).is_err());
        let reader = PermissionSet::EMPTY.with(Permission::UsersRead);
        assert_eq!(exceeds(reader, creator), None);
        assert_eq!(
            exceeds(creator, reader),
            Some(Permission::AuditRead),
            "the first missing, by name"
        );
    }

    #[test]
    fn the_lifetime_is_bounded_by_token_max_days() {
        assert_eq!(lifetime_days(None, 365), Ok(Some(365)));
        assert_eq!(lifetime_days(Some(30), 365), Ok(Some(30)));
        assert_eq!(lifetime_days(Some(365), 365), Ok(Some(365)));
        assert!(lifetime_days(Some(366), 365).is_err());
        assert!(
            lifetime_days(Some(0), 365).is_err(),
            "0 only when the max is 0"
        );
        assert!(lifetime_days(Some(-1), 365).is_err());
        assert_eq!(lifetime_days(None, 0), Ok(None));
        assert_eq!(lifetime_days(Some(0), 0), Ok(None));
        assert_eq!(lifetime_days(Some(9000), 0), Ok(Some(9000)));
        assert!(lifetime_days(Some(i64::MAX), 0).is_err());
    }
}
