//! Property tests on the domain types, through the library's public API: every
//! parser is total (never panics) and accepts exactly what the API contract says.

use proptest::prelude::*;
use useradmin::domain::{
    Cursor, CursorKey, ListQuery, MAX_PAGE_SIZE, Password, RawListQuery, SortKey, SortOrder,
    UserEmail, UserId, UserName,
};

/// Strings that are likely to sit on the edges: white space and control
/// characters around and inside, any Unicode, lengths around the limits.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        any::<String>(),
        "\\PC{0,110}",
        "[ \t\n\r\u{a0}\u{2003}\u{3000}]{0,3}[a-zA-Z0-9 éЖ😀]{0,105}[ \t\n\r\u{a0}\u{2003}]{0,3}",
        "[a\u{0}\u{7}\u{1b}\u{7f}\u{85}\u{200b}\u{feff} ]{0,8}",
        Just(String::new()),
    ];
    prop::collection::vec(piece, 1..3).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_name_is_accepted_exactly_when_the_spec_allows_it(raw in tricky_text()) {
        let trimmed = raw.trim();
        let allowed = !trimmed.is_empty()
            && trimmed.chars().count() <= UserName::MAX_CHARS
            && !trimmed.chars().any(char::is_control);
        match UserName::parse(&raw) {
            Ok(name) => {
                prop_assert!(allowed, "accepted {raw:?}");
                prop_assert_eq!(name.as_str(), trimmed);
                // What is stored parses again to itself.
                prop_assert_eq!(UserName::parse(name.as_str()).unwrap(), name);
            }
            Err(_) => prop_assert!(!allowed, "refused {raw:?}"),
        }
    }

    #[test]
    fn an_email_is_kept_as_sent_and_never_holds_control_characters(raw in tricky_text()) {
        if let Ok(email) = UserEmail::parse(&raw) {
            let stored = email.as_str();
            prop_assert_eq!(stored, raw.trim());
            prop_assert!(stored.chars().count() <= UserEmail::MAX_CHARS);
            prop_assert!(!stored.chars().any(char::is_control));
            prop_assert!(stored.contains('@'));
            prop_assert_eq!(UserEmail::parse(stored).unwrap(), email.clone());
        }
    }

    #[test]
    fn ordinary_addresses_are_accepted_with_their_case_and_without_padding(
        local in "[a-zA-Z0-9][a-zA-Z0-9._+-]{0,20}",
        domain in "[a-zA-Z0-9]{1,15}(\\.[a-zA-Z0-9]{1,15}){0,2}\\.[a-zA-Z]{2,6}",
        before in "[ \t\n]{0,3}",
        after in "[ \t\n]{0,3}",
    ) {
        let address = format!("{local}@{domain}");
        let parsed = UserEmail::parse(&format!("{before}{address}{after}"));
        prop_assert!(parsed.is_ok(), "{:?}: {:?}", address, parsed);
        let parsed = parsed.unwrap();
        prop_assert_eq!(parsed.as_str(), address.as_str());
    }

    #[test]
    fn emails_over_the_limit_are_refused(local in "[a-z]{1,64}", extra in 0usize..50) {
        let domain = format!("{}.com", "d".repeat(UserEmail::MAX_CHARS + extra));
        let address = format!("{local}@{domain}");
        prop_assert!(UserEmail::parse(&address).is_err());
    }

    #[test]
    fn a_password_is_8_to_128_characters_kept_exactly(raw in tricky_text()) {
        let chars = raw.chars().count();
        match Password::parse(&raw) {
            Ok(password) => {
                prop_assert!((Password::MIN_CHARS..=Password::MAX_CHARS).contains(&chars));
                prop_assert!(!useradmin::domain::has_control_characters(&raw, false));
                prop_assert_eq!(password.expose(), raw.as_str(), "not trimmed nor changed");
                // Debug output hides the secret (unless the secret is a piece of
                // the fixed redacted text itself).
                let redacted = format!("{:?}", Password::parse("zzzzzzzzzz").unwrap());
                let debug = format!("{password:?}");
                prop_assert!(!debug.contains(&raw) || redacted.contains(&raw));
            }
            // Refused for its length, or for a control character (SPEC §5).
            Err(_) => prop_assert!(
                !(Password::MIN_CHARS..=Password::MAX_CHARS).contains(&chars)
                    || useradmin::domain::has_control_characters(&raw, false)
            ),
        }
    }

    #[test]
    fn a_user_id_is_any_positive_64_bit_integer(n in any::<i64>()) {
        match UserId::parse(&n.to_string()) {
            Ok(id) => {
                prop_assert!(n > 0);
                prop_assert_eq!(id.get(), n);
            }
            Err(_) => prop_assert!(n <= 0),
        }
    }

    #[test]
    fn a_user_id_parser_never_panics_and_accepts_only_positive_integers(
        raw in prop_oneof![
            any::<String>(),
            "[-+]?[0-9]{0,25}",
            "[0-9 .eE_xX+-]{0,12}",
        ]
    ) {
        if let Ok(id) = UserId::parse(&raw) {
            let value: i64 = raw.parse().expect("only integers are accepted");
            prop_assert!(value > 0);
            prop_assert_eq!(id.get(), value);
        }
    }

    #[test]
    fn list_query_parsing_never_panics_and_keeps_its_limits(
        limit in prop::option::of(prop_oneof![any::<String>(), "[-+ ]?[0-9]{0,12}"]),
        after in prop::option::of(prop_oneof![any::<String>(), "[A-Za-z0-9_-]{0,80}"]),
        before in prop::option::of(prop_oneof![any::<String>(), "[A-Za-z0-9_-]{0,80}"]),
        q in prop::option::of(tricky_text()),
        sort in prop::option::of(prop_oneof![
            any::<String>(),
            "-?(id|name|email|created_at|password_hash)",
        ]),
    ) {
        let raw = RawListQuery {
            limit,
            after,
            before,
            q,
            sort,
            ..RawListQuery::default()
        };
        if let Ok(query) = ListQuery::parse(raw) {
            prop_assert!((1..=MAX_PAGE_SIZE).contains(&query.limit));
            prop_assert!(query.after.is_none() || query.before.is_none());
            if let Some(search) = &query.search {
                prop_assert!(!search.is_empty());
                prop_assert_eq!(search.as_str(), search.trim());
                prop_assert!(!search.contains('\0'));
                prop_assert!(search.chars().count() <= 200);
            }
            // The canonical text is itself a query string meaning the same query.
            let again: RawListQuery = serde_urlencoded::from_str(&query.canonical()).unwrap();
            prop_assert_eq!(ListQuery::parse(again), Ok(query.clone()));
        }
    }

    #[test]
    fn a_cursor_from_next_round_trips_with_the_same_sort(
        sort in prop_oneof![
            Just(SortKey::Id),
            Just(SortKey::Name),
            Just(SortKey::Email),
            Just(SortKey::CreatedAt),
        ],
        descending in any::<bool>(),
        // What a stored row can hold: names and emails without NUL, times in
        // years 1 to 9999 (crafted cursors are refused; see the list-query tests).
        text in "[^\u{0}]{0,120}",
        micros in -62_135_596_800_000_000i64..253_402_300_799_999_999i64,
        id in any::<i64>(),
        backwards in any::<bool>(),
        padding in "[ \t]{0,2}",
    ) {
        let order = if descending { SortOrder::Descending } else { SortOrder::Ascending };
        let key = match sort {
            SortKey::Id => None,
            SortKey::Name | SortKey::Email => Some(CursorKey::Text(text)),
            SortKey::CreatedAt => Some(CursorKey::Micros(micros)),
        };
        let cursor = Cursor { sort, order, key, id };
        let sign = if descending { "-" } else { "" };
        let encoded = format!("{padding}{}{padding}", cursor.encode());
        let (after, before) = if backwards {
            (None, Some(encoded.clone()))
        } else {
            (Some(encoded.clone()), None)
        };
        let query = ListQuery::parse(RawListQuery {
            sort: Some(format!("{sign}{}", sort.column())),
            after,
            before,
            ..RawListQuery::default()
        });
        let query = query.expect("a cursor from next is accepted with its own sort");
        let got = if backwards { query.before } else { query.after };
        prop_assert_eq!(got, Some(cursor.clone()));

        // With another sort or order the cursor is refused, never misread.
        let other_sort = if sort == SortKey::Id { "name" } else { "id" };
        let refused = ListQuery::parse(RawListQuery {
            sort: Some(other_sort.to_owned()),
            after: Some(encoded.clone()),
            ..RawListQuery::default()
        });
        prop_assert!(refused.is_err());
        let flipped = if descending { "" } else { "-" };
        let refused = ListQuery::parse(RawListQuery {
            sort: Some(format!("{flipped}{}", sort.column())),
            after: Some(encoded),
            ..RawListQuery::default()
        });
        prop_assert!(refused.is_err());
    }
}
