//! The user's fields, once: each one's name (the JSON key, the CSV column and
//! the import's column), its SQL column, its SCIM attribute where it has one,
//! and whether an export writes it and an import writes or reads past it. The
//! export's columns, the import's columns and SCIM's columns are derived from
//! [`USER_FIELDS`]; its order is the export's column order.

use Imported::{ReadPast, Written};

/// A field of a user as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserField {
    Id,
    Name,
    Email,
    IsAdmin,
    Status,
    DisabledReason,
    CreatedAt,
    UpdatedAt,
    Version,
    LastLoginAt,
    ExternalId,
    DisabledAt,
    DeletedAt,
}

/// What an import does with a field's column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// The import writes the field.
    Written,
    /// A column an export (or the API's JSON) has, which the import reads past:
    /// the database keeps the field.
    ReadPast,
}

/// One row of [`USER_FIELDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub field: UserField,
    /// The JSON key, CSV column and import column.
    pub name: &'static str,
    /// The `users` column.
    pub column: &'static str,
    /// The SCIM attribute path that names the field, where one does.
    pub scim: Option<&'static str>,
    /// Whether the CSV export has the column.
    pub exported: bool,
    pub imported: Imported,
}

const fn field(
    field: UserField,
    name: &'static str,
    scim: Option<&'static str>,
    exported: bool,
    imported: Imported,
) -> FieldSpec {
    FieldSpec {
        field,
        name,
        // Every field is kept in the column of its name.
        column: name,
        scim,
        exported,
        imported,
    }
}

/// Every field, in the export's column order (the fields it leaves out last).
pub const USER_FIELDS: [FieldSpec; 13] = [
    field(UserField::Id, "id", Some("id"), true, ReadPast),
    field(
        UserField::Name,
        "name",
        Some("name.formatted"),
        true,
        Written,
    ),
    field(UserField::Email, "email", Some("userName"), true, Written),
    field(UserField::IsAdmin, "is_admin", None, true, Written),
    field(UserField::Status, "status", Some("active"), true, Written),
    field(
        UserField::DisabledReason,
        "disabled_reason",
        None,
        true,
        Written,
    ),
    field(
        UserField::CreatedAt,
        "created_at",
        Some("meta.created"),
        true,
        ReadPast,
    ),
    field(
        UserField::UpdatedAt,
        "updated_at",
        Some("meta.lastModified"),
        true,
        ReadPast,
    ),
    field(UserField::Version, "version", None, true, ReadPast),
    field(
        UserField::LastLoginAt,
        "last_login_at",
        None,
        true,
        ReadPast,
    ),
    field(
        UserField::ExternalId,
        "external_id",
        Some("externalId"),
        true,
        Written,
    ),
    field(UserField::DisabledAt, "disabled_at", None, false, ReadPast),
    field(UserField::DeletedAt, "deleted_at", None, false, ReadPast),
];

const fn count(exported: Option<bool>, imported: Option<Imported>) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < USER_FIELDS.len() {
        if selected(&USER_FIELDS[i], exported, imported) {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn selected(spec: &FieldSpec, exported: Option<bool>, imported: Option<Imported>) -> bool {
    let by_export = match exported {
        Some(exported) => spec.exported == exported,
        None => true,
    };
    let by_import = match imported {
        Some(Written) => matches!(spec.imported, Written),
        Some(ReadPast) => matches!(spec.imported, ReadPast),
        None => true,
    };
    by_export && by_import
}

/// The names of the fields selected, in table order (`N` must be their count).
const fn names<const N: usize>(
    exported: Option<bool>,
    imported: Option<Imported>,
) -> [&'static str; N] {
    let mut out = [""; N];
    let mut n = 0;
    let mut i = 0;
    while i < USER_FIELDS.len() {
        if selected(&USER_FIELDS[i], exported, imported) {
            out[n] = USER_FIELDS[i].name;
            n += 1;
        }
        i += 1;
    }
    assert!(n == N, "the count of the fields selected");
    out
}

/// The fields selected, in table order (`N` must be their count).
const fn fields<const N: usize>(
    exported: Option<bool>,
    imported: Option<Imported>,
) -> [UserField; N] {
    let mut out = [UserField::Id; N];
    let mut n = 0;
    let mut i = 0;
    while i < USER_FIELDS.len() {
        if selected(&USER_FIELDS[i], exported, imported) {
            out[n] = USER_FIELDS[i].field;
            n += 1;
        }
        i += 1;
    }
    assert!(n == N, "the count of the fields selected");
    out
}

/// The fields the CSV export has, in its column order.
pub const EXPORTED_FIELDS: [UserField; count(Some(true), None)] = fields(Some(true), None);

/// The CSV export's columns, in order.
pub const EXPORTED: [&str; count(Some(true), None)] = names(Some(true), None);

/// The fields an import writes, in order (a submitted row's cells are indexed so).
pub const IMPORT_WRITTEN: [&str; count(None, Some(Written))] = names(None, Some(Written));

/// The columns an import reads past, in order.
pub const IMPORT_READ_PAST: [&str; count(None, Some(ReadPast))] = names(None, Some(ReadPast));

impl UserField {
    pub fn spec(self) -> &'static FieldSpec {
        USER_FIELDS
            .iter()
            .find(|spec| spec.field == self)
            .unwrap_or_else(|| unreachable!("every field is in the table"))
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The `users` column it is kept in.
    pub fn column(self) -> &'static str {
        self.spec().column
    }

    /// Its place among [`IMPORT_WRITTEN`], if the import writes it.
    pub fn import_index(self) -> Option<usize> {
        IMPORT_WRITTEN.iter().position(|name| *name == self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_are_the_ones_the_files_have() {
        assert_eq!(
            EXPORTED,
            [
                "id",
                "name",
                "email",
                "is_admin",
                "status",
                "disabled_reason",
                "created_at",
                "updated_at",
                "version",
                "last_login_at",
                "external_id",
            ]
        );
        assert_eq!(
            IMPORT_WRITTEN,
            [
                "name",
                "email",
                "is_admin",
                "status",
                "disabled_reason",
                "external_id"
            ]
        );
        assert_eq!(
            IMPORT_READ_PAST,
            [
                "id",
                "created_at",
                "updated_at",
                "version",
                "last_login_at",
                "disabled_at",
                "deleted_at"
            ]
        );
        assert_eq!(UserField::Email.import_index(), Some(1));
        assert_eq!(UserField::Id.import_index(), None);
    }

    #[test]
    fn each_field_is_in_the_table_once() {
        for (i, spec) in USER_FIELDS.iter().enumerate() {
            assert_eq!(spec.field.spec(), spec);
            assert!(
                USER_FIELDS[i + 1..]
                    .iter()
                    .all(|other| other.name != spec.name)
            );
        }
    }
}
