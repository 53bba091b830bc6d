//! A row's values, parsed: the email it is matched by, and the fields it sets.

use super::read::{Cell, SubmittedRow};
use crate::{
    db::users::UserRow,
    domain::{DisabledReason, ExternalId, FieldErrors, UserEmail, UserName, UserStatus},
};

/// A row that parsed: `None` leaves a field as it is; for the nullable fields,
/// `Some(None)` clears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: u64,
    pub email: UserEmail,
    pub name: Option<UserName>,
    pub is_admin: Option<bool>,
    pub status: Option<UserStatus>,
    pub disabled_reason: Option<Option<DisabledReason>>,
    pub external_id: Option<Option<ExternalId>>,
}

/// A row with bad values: every field's problems, and the email as written
/// (to name the row on a page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub line: u64,
    pub email: String,
    pub errors: FieldErrors,
}

impl ImportRow {
    /// Parses a row, given the user its email matched. A value equal to the
    /// stored one is no change, even where today's rules would refuse it (a
    /// name typed into the database by hand): an export always imports again.
    pub fn parse(row: &SubmittedRow, stored: Option<&UserRow>) -> Result<Self, RejectedRow> {
        let same = |field: &str, value: Option<&str>| {
            stored.is_some_and(|_| match row.cell(field) {
                Some(Cell::Text(raw)) => value == Some(raw.as_str()),
                Some(Cell::Empty) => value.is_none_or(str::is_empty),
                _ => false,
            })
        };
        let keep_name = same("name", stored.map(|s| s.name.as_str()));
        let keep_reason = same(
            "disabled_reason",
            stored.and_then(|s| s.disabled_reason.as_deref()),
        );
        let keep_external_id = same("external_id", stored.and_then(|s| s.external_id.as_deref()));
        let mut errors = FieldErrors::default();
        let email = email_value(row.cell("email"), &mut errors);
        let name = row
            .cell("name")
            .filter(|_| !keep_name)
            .and_then(|cell| match cell {
                Cell::Empty => {
                    errors.add("name", "must not be empty");
                    None
                }
                cell => text(cell, "name", &mut errors)
                    .and_then(|raw| errors.take("name", UserName::parse(raw))),
            });
        let is_admin = row
            .cell("is_admin")
            .and_then(|cell| admin_flag(cell, &mut errors));
        let status = row
            .cell("status")
            .and_then(|cell| status_value(cell, &mut errors));
        let disabled_reason = row
            .cell("disabled_reason")
            .filter(|_| !keep_reason)
            .and_then(|cell| match cell {
                Cell::Empty => Some(None),
                cell => text(cell, "disabled_reason", &mut errors)
                    .and_then(|raw| errors.take("disabled_reason", DisabledReason::parse(raw)))
                    .map(|reason| Some(reason).filter(|r| !r.as_str().is_empty())),
            });
        let external_id = row
            .cell("external_id")
            .filter(|_| !keep_external_id)
            .and_then(|cell| match cell {
                Cell::Empty => Some(None),
                cell => text(cell, "external_id", &mut errors)
                    .and_then(|raw| errors.take("external_id", ExternalId::parse(raw)))
                    .map(Some),
            });
        if status == Some(UserStatus::Active) && matches!(disabled_reason, Some(Some(_))) {
            errors.add("disabled_reason", "only a disabled user has one");
        }
        match email {
            Some(email) if errors.is_empty() => Ok(Self {
                line: row.line,
                email,
                name,
                is_admin,
                status,
                disabled_reason,
                external_id,
            }),
            _ => Err(RejectedRow {
                line: row.line,
                email: match row.cell("email") {
                    Some(Cell::Text(raw)) => raw.clone(),
                    _ => String::new(),
                },
                errors,
            }),
        }
    }
}

/// `email`: required, since rows are matched by it.
fn email_value(cell: Option<&Cell>, errors: &mut FieldErrors) -> Option<UserEmail> {
    match cell {
        None | Some(Cell::Empty) => {
            errors.add("email", "is required: rows are matched by email");
            None
        }
        Some(cell) => {
            text(cell, "email", errors).and_then(|raw| errors.take("email", UserEmail::parse(raw)))
        }
    }
}

/// `is_admin`: a boolean, or true/false, 1/0, yes/no as text.
fn admin_flag(cell: &Cell, errors: &mut FieldErrors) -> Option<bool> {
    match cell {
        Cell::Bool(flag) => Some(*flag),
        Cell::Text(raw) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => {
                errors.add("is_admin", "must be true or false");
                None
            }
        },
        _ => {
            errors.add("is_admin", "must be true or false");
            None
        }
    }
}

/// `status`: active or disabled.
fn status_value(cell: &Cell, errors: &mut FieldErrors) -> Option<UserStatus> {
    let status = match cell {
        Cell::Text(raw) => UserStatus::parse(raw),
        _ => None,
    };
    if status.is_none() {
        errors.add("status", "must be active or disabled");
    }
    status
}

fn text<'a>(cell: &'a Cell, field: &str, errors: &mut FieldErrors) -> Option<&'a str> {
    match cell {
        Cell::Text(text) => Some(text),
        _ => {
            errors.add(field, "must be a string");
            None
        }
    }
}

/// The characters that make a spreadsheet run a cell as a formula.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether a cell needs the export's guard: it starts like a formula, or it
/// starts with the guard itself before something that does (so that dropping
/// the guard on import gives back exactly what was exported).
pub fn needs_guard(cell: &str) -> bool {
    cell.starts_with(FORMULA_START) || cell.strip_prefix('\'').is_some_and(needs_guard)
}

/// A cell as a spreadsheet may safely open it: a `'` before what would run.
pub fn guard(cell: &str) -> std::borrow::Cow<'_, str> {
    if needs_guard(cell) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The inverse of [`guard`]: drops the `'` an export put in front.
pub fn unguard(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_guard(rest) => rest.into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::read::WRITTEN;

    fn row(fields: &[(&str, Cell)]) -> SubmittedRow {
        let mut cells: [Option<Cell>; 6] = Default::default();
        for (field, cell) in fields {
            let index = WRITTEN.iter().position(|f| f == field).unwrap();
            cells[index] = Some(cell.clone());
        }
        SubmittedRow { line: 9, cells }
    }

    fn t(text: &str) -> Cell {
        Cell::Text(text.into())
    }

    #[test]
    fn guarding_then_unguarding_gives_back_every_value() {
        for value in [
            "=HYPERLINK(\"x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "'=x",
            "''+1",
            "'",
            "'plain",
            "plain",
            "",
            "''",
        ] {
            assert_eq!(unguard(&guard(value)), value, "{value:?}");
        }
        assert_eq!(guard("=1+1"), "'=1+1");
        assert_eq!(guard("'=1"), "''=1");
        assert_eq!(guard("'quoted'"), "'quoted'");
    }

    #[test]
    fn every_bad_field_of_a_row_is_named() {
        let rejected = ImportRow::parse(
            &row(&[
                ("email", t("not an email")),
                ("name", Cell::Empty),
                ("is_admin", t("maybe")),
                ("status", t("asleep")),
                ("external_id", Cell::Bool(true)),
            ]),
            None,
        )
        .unwrap_err();
        assert_eq!(rejected.line, 9);
        for field in ["email", "name", "is_admin", "status", "external_id"] {
            assert!(!rejected.errors.get(field).is_empty(), "{field}");
        }
        let rejected = ImportRow::parse(&row(&[("name", t("Ada"))]), None).unwrap_err();
        assert!(rejected.errors.get("email")[0].contains("matched by email"));
    }

    #[test]
    fn absent_fields_stay_absent_and_empty_ones_clear() {
        let parsed = ImportRow::parse(
            &row(&[
                ("email", t("ada@x.com")),
                ("disabled_reason", Cell::Empty),
                ("is_admin", t("TRUE")),
                ("status", t("disabled")),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(parsed.name, None);
        assert_eq!(parsed.disabled_reason, Some(None));
        assert_eq!(parsed.is_admin, Some(true));
        assert_eq!(parsed.status, Some(UserStatus::Disabled));
        let rejected = ImportRow::parse(
            &row(&[
                ("email", t("ada@x.com")),
                ("status", t("active")),
                ("disabled_reason", t("left")),
            ]),
            None,
        )
        .unwrap_err();
        assert!(!rejected.errors.get("disabled_reason").is_empty());
    }
}
