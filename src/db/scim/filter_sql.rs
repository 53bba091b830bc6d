//! A parsed filter as SQL: every value is a bound parameter, every column and
//! operator comes from a fixed list here. `LIKE` patterns escape `%`, `_` and
//! `\` so a value matches literally.

use sqlx::{Postgres, QueryBuilder};

use crate::domain::scim_filter::{Attribute, CompareOp, Filter, Kind, Value};

/// Appends `filter` as a boolean SQL expression over the `users` table.
pub fn push_filter(sql: &mut QueryBuilder<Postgres>, filter: &Filter) {
    match filter {
        Filter::And(a, b) => {
            sql.push("(");
            push_filter(sql, a);
            sql.push(" and ");
            push_filter(sql, b);
            sql.push(")");
        }
        Filter::Or(a, b) => {
            sql.push("(");
            push_filter(sql, a);
            sql.push(" or ");
            push_filter(sql, b);
            sql.push(")");
        }
        Filter::Not(inner) => {
            // `is not true`: a comparison with a NULL column counts as false,
            // so its negation is true, as SCIM's "does not match" means.
            sql.push("((");
            push_filter(sql, inner);
            sql.push(") is not true)");
        }
        Filter::Present(attribute) => {
            sql.push(present(*attribute));
        }
        Filter::Compare {
            attribute,
            op,
            value,
        } => push_comparison(sql, *attribute, *op, value),
    }
}

fn present(attribute: Attribute) -> &'static str {
    match attribute {
        Attribute::ExternalId => "(external_id is not null)",
        // Every user has an id, an email, a name, a status and timestamps.
        _ => "true",
    }
}

/// What a client reads as `displayName`: what it wrote, else the name.
const DISPLAY_NAME: &str = "coalesce(scim_profile->>'displayName', name)";

/// What a client reads as the email's `type`: what it wrote, else `work`.
const EMAIL_TYPE: &str = "coalesce(scim_profile->>'emailType', 'work')";

/// The column (or expression) an attribute is kept in. `name.formatted` is the
/// name: when a client wrote one, the name was made from it.
fn column(attribute: Attribute) -> &'static str {
    match attribute {
        Attribute::Id => "id",
        Attribute::UserName | Attribute::EmailValue => "email",
        Attribute::ExternalId => "external_id",
        Attribute::NameFormatted => "name",
        Attribute::DisplayName => DISPLAY_NAME,
        Attribute::EmailType => EMAIL_TYPE,
        Attribute::Active => "status",
        Attribute::Created => "created_at",
        Attribute::LastModified => "updated_at",
        // A constant, compared in Rust.
        Attribute::EmailPrimary => "",
    }
}

fn sql_operator(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => " = ",
        CompareOp::Ne => " <> ",
        CompareOp::Gt => " > ",
        CompareOp::Ge => " >= ",
        CompareOp::Lt => " < ",
        CompareOp::Le => " <= ",
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => " like ",
    }
}

fn push_comparison(
    sql: &mut QueryBuilder<Postgres>,
    attribute: Attribute,
    op: CompareOp,
    value: &Value,
) {
    // The one email is always the primary one: decide here.
    if attribute == Attribute::EmailPrimary {
        let held = Value::Boolean(true);
        let single = Filter::Compare {
            attribute,
            op,
            value: value.clone(),
        };
        sql.push(if single.matches(&|_| held.clone()) {
            "true"
        } else {
            "false"
        });
        return;
    }
    let column = column(attribute);
    match value {
        Value::Null => {
            sql.push(format!(
                "({column} is {}null)",
                if op == CompareOp::Ne { "not " } else { "" }
            ));
        }
        Value::Boolean(wanted) => {
            // Only `active`: eq/ne true/false.
            let active = (op == CompareOp::Eq) == *wanted;
            sql.push(if active {
                "(status = 'active')"
            } else {
                "(status <> 'active')"
            });
        }
        Value::Id(None) => {
            sql.push(if op == CompareOp::Ne { "true" } else { "false" });
        }
        Value::Id(Some(id)) => {
            sql.push(format!("({column}{}", sql_operator(op)));
            sql.push_bind(*id);
            sql.push(")");
        }
        Value::Instant(at) => {
            sql.push(format!("({column}{}", sql_operator(op)));
            sql.push_bind(*at);
            sql.push(")");
        }
        Value::Text(text) => push_text_comparison(sql, attribute, column, op, text),
    }
}

/// A comparison with text: exact or case-insensitive as the attribute is, and
/// `co`/`sw`/`ew` as `like` with the text's own wildcards made literal.
fn push_text_comparison(
    sql: &mut QueryBuilder<Postgres>,
    attribute: Attribute,
    column: &str,
    op: CompareOp,
    text: &str,
) {
    let case_exact = matches!(attribute.kind(), Kind::Text { case_exact: true });
    let operand = if op.is_substring() {
        let escaped = escape_like(text);
        match op {
            CompareOp::Co => format!("%{escaped}%"),
            CompareOp::Sw => format!("{escaped}%"),
            _ => format!("%{escaped}"),
        }
    } else {
        text.to_owned()
    };
    if case_exact && op == CompareOp::Ne {
        // A user without an external id differs from every value.
        sql.push(format!("({column} is distinct from "));
        sql.push_bind(operand);
    } else if case_exact {
        sql.push(format!("({column}{}", sql_operator(op)));
        sql.push_bind(operand);
    } else {
        sql.push(format!("(lower({column}){}lower(", sql_operator(op)));
        sql.push_bind(operand);
        sql.push(")");
    }
    if op.is_substring() {
        sql.push(" escape '\\'");
    }
    sql.push(")");
}

/// `LIKE` treats `%`, `_` and the escape character specially; make them literal.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The `order by` column for a `sortBy` attribute (ties broken by id).
pub fn sort_column(attribute: Attribute) -> &'static str {
    match attribute {
        Attribute::Id => "id",
        Attribute::UserName | Attribute::EmailValue => "lower(email)",
        Attribute::ExternalId => "external_id",
        Attribute::NameFormatted => "lower(name)",
        Attribute::DisplayName => "lower(coalesce(scim_profile->>'displayName', name))",
        Attribute::EmailType => "lower(coalesce(scim_profile->>'emailType', 'work'))",
        Attribute::Active => "status",
        Attribute::Created => "created_at",
        Attribute::LastModified => "updated_at",
        Attribute::EmailPrimary => "id",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_of(filter: &str) -> String {
        let mut sql = QueryBuilder::<Postgres>::new("");
        push_filter(&mut sql, &Filter::parse(filter).unwrap());
        sql.sql().as_str().to_owned()
    }

    #[test]
    fn values_are_bound_never_spliced() {
        let sql = sql_of(r#"userName eq "x' or '1'='1" or externalId co "50%_\\""#);
        assert!(!sql.contains("'1'"), "{sql}");
        assert!(!sql.contains("50"), "{sql}");
        assert_eq!(sql.matches('$').count(), 2, "{sql}");
    }

    #[test]
    fn like_patterns_escape_their_wildcards() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn the_primary_flag_is_decided_here_and_the_type_is_stored() {
        assert_eq!(sql_of("emails.primary eq true"), "true");
        assert_eq!(sql_of("emails.primary eq false"), "false");
        assert_eq!(
            sql_of(r#"emails[type eq "home"]"#),
            "(lower(coalesce(scim_profile->>'emailType', 'work')) = lower($1))"
        );
    }
}
