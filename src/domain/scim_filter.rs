//! SCIM filters (RFC 7644 §3.4.2.2) parsed into a typed expression over the
//! attributes a user has, and a group list's conditions ([`GroupCondition`]:
//! the name, the external id, a member). Nothing here builds SQL from text: [`super::query`]
//! turns the expression into SQL with every value bound.
//!
//! Attribute names and operators are case-insensitive, as the RFC says. The
//! filter is at most [`MAX_FILTER_CHARS`] long, nests at most [`MAX_DEPTH`]
//! deep and holds at most [`MAX_COMPARISONS`] comparisons, so a hostile filter
//! costs little to refuse and nothing in the database.

use std::fmt;

use time::OffsetDateTime;

use super::UserField;

/// Longer filters are refused before they are read.
pub const MAX_FILTER_CHARS: usize = 4096;

/// Parentheses, `not` and value paths nested deeper than this are refused.
pub const MAX_DEPTH: usize = 32;

/// Comparisons (`pr` included) in one filter at most. A hundred OR-ed `co`
/// terms make PostgreSQL scan every name and email a hundred times while the
/// request holds a connection; identity providers send one to three.
pub const MAX_COMPARISONS: usize = 50;

/// The core User schema's URN, which may prefix any attribute name.
pub const USER_SCHEMA_PREFIX: &str = "urn:ietf:params:scim:schemas:core:2.0:User:";

/// An attribute of a user that a filter (or a sort) can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    Id,
    /// The email; compared ignoring letter case.
    UserName,
    /// The primary (only) email's value: the same email.
    EmailValue,
    /// The one email's type: as the client wrote it, else `work`.
    EmailType,
    /// Always true.
    EmailPrimary,
    ExternalId,
    /// `name.formatted`: the name.
    NameFormatted,
    /// `displayName`: as the client wrote it, else the name.
    DisplayName,
    Active,
    Created,
    LastModified,
}

impl Attribute {
    /// Resolves a path as written (`userName`, `name.formatted`, `emails`,
    /// `urn:…:User:meta.created`), ignoring letter case.
    pub fn resolve(path: &str) -> Option<Self> {
        let path = strip_schema(path);
        Some(match path.to_ascii_lowercase().as_str() {
            "id" => Self::Id,
            "username" => Self::UserName,
            "emails" | "emails.value" => Self::EmailValue,
            "emails.type" => Self::EmailType,
            "emails.primary" => Self::EmailPrimary,
            "externalid" => Self::ExternalId,
            "name.formatted" => Self::NameFormatted,
            "displayname" => Self::DisplayName,
            "active" => Self::Active,
            "meta.created" => Self::Created,
            "meta.lastmodified" => Self::LastModified,
            _ => return None,
        })
    }

    /// Resolves a sub-attribute inside `emails[…]`.
    fn resolve_in_emails(path: &str) -> Option<Self> {
        Some(match path.to_ascii_lowercase().as_str() {
            "value" => Self::EmailValue,
            "type" => Self::EmailType,
            "primary" => Self::EmailPrimary,
            _ => return None,
        })
    }

    /// The user's field the attribute is, where it is one (the others come from
    /// what SCIM wrote beside them, or are constants).
    pub fn field(self) -> Option<UserField> {
        match self {
            Self::Id => Some(UserField::Id),
            Self::UserName | Self::EmailValue => Some(UserField::Email),
            Self::ExternalId => Some(UserField::ExternalId),
            Self::NameFormatted => Some(UserField::Name),
            Self::Active => Some(UserField::Status),
            Self::Created => Some(UserField::CreatedAt),
            Self::LastModified => Some(UserField::UpdatedAt),
            Self::EmailType | Self::EmailPrimary | Self::DisplayName => None,
        }
    }

    /// What kind of value the attribute holds, which decides the operators
    /// that apply and how values are compared.
    pub fn kind(self) -> Kind {
        match self {
            Self::Id => Kind::Id,
            Self::UserName | Self::EmailValue | Self::NameFormatted | Self::DisplayName => {
                Kind::Text { case_exact: false }
            }
            Self::EmailType => Kind::Text { case_exact: false },
            Self::ExternalId => Kind::Text { case_exact: true },
            Self::EmailPrimary | Self::Active => Kind::Boolean,
            Self::Created | Self::LastModified => Kind::DateTime,
        }
    }
}

/// Strips the core User schema's URN from an attribute path.
pub fn strip_schema(path: &str) -> &str {
    match path.get(..USER_SCHEMA_PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(USER_SCHEMA_PREFIX) => {
            &path[USER_SCHEMA_PREFIX.len()..]
        }
        _ => path,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Id,
    Text { case_exact: bool },
    Boolean,
    DateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    pub fn is_substring(self) -> bool {
        matches!(self, Self::Co | Self::Sw | Self::Ew)
    }

    pub fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }
}

/// A comparison's value, typed for its attribute when parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Boolean(bool),
    Instant(OffsetDateTime),
    /// An id that no user can have (not a positive 64-bit integer) matches nothing.
    Id(Option<i64>),
    Null,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        attribute: Attribute,
        op: CompareOp,
        value: Value,
    },
    Present(Attribute),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// Why a filter was refused; the message names the position or the part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn error(message: impl Into<String>) -> FilterError {
    FilterError(message.into())
}

impl Filter {
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        if text.chars().count() > MAX_FILTER_CHARS {
            return Err(error(format!(
                "the filter is longer than {MAX_FILTER_CHARS} characters"
            )));
        }
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            scope: Scope::User,
            comparisons: 0,
        };
        let filter = parser.or(0)?;
        match parser.peek() {
            None => Ok(filter),
            Some(token) => Err(error(format!("unexpected {token} after the filter"))),
        }
    }

    /// Parses the filter inside a PATCH path's brackets (`emails[type eq "work"]`),
    /// whose attributes are the email's own.
    pub fn parse_in_emails(text: &str) -> Result<Self, FilterError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            scope: Scope::Emails,
            comparisons: 0,
        };
        let filter = parser.or(0)?;
        match parser.peek() {
            None => Ok(filter),
            Some(token) => Err(error(format!("unexpected {token} after the filter"))),
        }
    }

    /// Evaluates the filter against values held in memory (a user's one email,
    /// for a PATCH path's value filter). `lookup` gives an attribute's value.
    pub fn matches(&self, lookup: &dyn Fn(Attribute) -> Value) -> bool {
        match self {
            Self::Present(attribute) => lookup(*attribute) != Value::Null,
            Self::And(a, b) => a.matches(lookup) && b.matches(lookup),
            Self::Or(a, b) => a.matches(lookup) || b.matches(lookup),
            Self::Not(inner) => !inner.matches(lookup),
            Self::Compare {
                attribute,
                op,
                value,
            } => compare_in_memory(&lookup(*attribute), *op, value),
        }
    }
}

fn compare_in_memory(held: &Value, op: CompareOp, wanted: &Value) -> bool {
    match (held, wanted) {
        (Value::Text(held), Value::Text(wanted)) => {
            let (held, wanted) = (held.to_lowercase(), wanted.to_lowercase());
            match op {
                CompareOp::Eq => held == wanted,
                CompareOp::Ne => held != wanted,
                CompareOp::Co => held.contains(&wanted),
                CompareOp::Sw => held.starts_with(&wanted),
                CompareOp::Ew => held.ends_with(&wanted),
                CompareOp::Gt => held > wanted,
                CompareOp::Ge => held >= wanted,
                CompareOp::Lt => held < wanted,
                CompareOp::Le => held <= wanted,
            }
        }
        (Value::Boolean(held), Value::Boolean(wanted)) => match op {
            CompareOp::Eq => held == wanted,
            CompareOp::Ne => held != wanted,
            _ => false,
        },
        (Value::Null, Value::Null) => op == CompareOp::Eq,
        (_, Value::Null) => op == CompareOp::Ne,
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    /// A quoted string, unescaped.
    Text(String),
    /// Anything else between spaces: an attribute path, an operator, a number,
    /// `true`, `false`, `null`, `and`, `or`, `not`.
    Word(String),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open => f.write_str("'('"),
            Self::Close => f.write_str("')'"),
            Self::OpenBracket => f.write_str("'['"),
            Self::CloseBracket => f.write_str("']'"),
            Self::Text(text) => write!(f, "the string {text:?}"),
            Self::Word(word) => write!(f, "'{word}'"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '"' => {
                chars.next();
                let mut end = None;
                let mut escaped = false;
                for (at, c) in chars.by_ref() {
                    match c {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => {
                            end = Some(at);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| {
                    error(format!(
                        "the string starting at character {start} is not closed"
                    ))
                })?;
                // A JSON string, as RFC 7644 says: JSON's escapes apply.
                let literal = &text[start..=end];
                // JSON refuses raw control characters in a string; read them as
                // if escaped, so the comparison can refuse them naming its attribute.
                let value: String = serde_json::from_str(literal)
                    .or_else(|_| serde_json::from_str(&escape_raw_controls(literal)))
                    .map_err(|_| {
                        error(format!("the string {literal} is not a valid JSON string"))
                    })?;
                tokens.push(Token::Text(value));
            }
            _ => {
                let mut end = text.len();
                while let Some(&(at, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"') {
                        end = at;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token::Word(text[start..end].to_owned()));
            }
        }
    }
    if tokens.is_empty() {
        return Err(error("the filter is empty"));
    }
    Ok(tokens)
}

/// `literal` with each raw C0 control character written as a JSON escape.
fn escape_raw_controls(literal: &str) -> String {
    let mut escaped = String::with_capacity(literal.len() + 6);
    for c in literal.chars() {
        if u32::from(c) < 0x20 {
            escaped.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            escaped.push(c);
        }
    }
    escaped
}

/// Whose attributes the names in a filter are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    User,
    Emails,
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    scope: Scope,
    /// Comparisons read so far, against [`MAX_COMPARISONS`].
    comparisons: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn expect(&mut self, wanted: Token) -> Result<(), FilterError> {
        match self.next() {
            Some(token) if token == wanted => Ok(()),
            Some(token) => Err(error(format!("expected {wanted}, found {token}"))),
            None => Err(error(format!("expected {wanted} at the end of the filter"))),
        }
    }

    fn or(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.and(depth)?;
        while self.peek_keyword("or") {
            self.next();
            let right = self.and(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.unary(depth)?;
        while self.peek_keyword("and") {
            self.next();
            let right = self.unary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth >= MAX_DEPTH {
            return Err(error(format!("the filter nests deeper than {MAX_DEPTH}")));
        }
        if self.peek_keyword("not") && self.tokens.get(self.at + 1) == Some(&Token::Open) {
            self.next();
            self.next();
            let inner = self.or(depth + 1)?;
            self.expect(Token::Close)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.next();
            let inner = self.or(depth + 1)?;
            self.expect(Token::Close)?;
            return Ok(inner);
        }
        self.attribute_expression(depth)
    }

    fn attribute_expression(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let path = match self.next() {
            Some(Token::Word(path)) => path,
            Some(token) => return Err(error(format!("expected an attribute, found {token}"))),
            None => return Err(error("expected an attribute at the end of the filter")),
        };
        if self.peek() == Some(&Token::OpenBracket) {
            return self.value_path(&path, depth);
        }
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            return Err(error(format!(
                "the filter has more than {MAX_COMPARISONS} comparisons"
            )));
        }
        let attribute = self.attribute(&path)?;
        let op = match self.next() {
            Some(Token::Word(op)) if op.eq_ignore_ascii_case("pr") => {
                return Ok(Filter::Present(attribute));
            }
            Some(Token::Word(op)) => CompareOp::parse(&op)
                .ok_or_else(|| error(format!("'{op}' is not a comparison operator")))?,
            Some(token) => return Err(error(format!("expected an operator, found {token}"))),
            None => return Err(error(format!("'{path}' needs an operator"))),
        };
        let raw = match self.next() {
            Some(Token::Text(text)) => RawValue::Text(text),
            Some(Token::Word(word)) => RawValue::Word(word),
            Some(token) => return Err(error(format!("expected a value, found {token}"))),
            None => return Err(error(format!("'{path}' needs a value"))),
        };
        if let RawValue::Text(text) | RawValue::Word(text) = &raw
            && let Some(control) = text.chars().find(|c| c.is_control())
        {
            // PostgreSQL cannot even hold a NUL in text, and no value kept
            // here holds a control character: refuse it rather than fail later.
            return Err(error(format!(
                "the value compared with '{path}' contains the control character U+{:04X}",
                u32::from(control)
            )));
        }
        let value = typed_value(attribute, op, raw)?;
        Ok(Filter::Compare {
            attribute,
            op,
            value,
        })
    }

    /// `emails[type eq "work" and value co "@example.com"]`: a filter over the
    /// user's one email.
    fn value_path(&mut self, path: &str, depth: usize) -> Result<Filter, FilterError> {
        if self.scope != Scope::User || !strip_schema(path).eq_ignore_ascii_case("emails") {
            return Err(error(format!(
                "'{path}[…]' is not supported: only emails has a value filter"
            )));
        }
        self.expect(Token::OpenBracket)?;
        self.scope = Scope::Emails;
        let inner = self.or(depth + 1);
        self.scope = Scope::User;
        let inner = inner?;
        self.expect(Token::CloseBracket)?;
        Ok(inner)
    }

    fn attribute(&self, path: &str) -> Result<Attribute, FilterError> {
        let found = match self.scope {
            Scope::User => Attribute::resolve(path),
            Scope::Emails => Attribute::resolve_in_emails(path),
        };
        found.ok_or_else(|| error(format!("'{path}' is not an attribute that can be filtered")))
    }
}

enum RawValue {
    Text(String),
    Word(String),
}

fn typed_value(attribute: Attribute, op: CompareOp, raw: RawValue) -> Result<Value, FilterError> {
    let kind = attribute.kind();
    if let RawValue::Word(word) = &raw
        && word == "null"
    {
        return match op {
            CompareOp::Eq | CompareOp::Ne => Ok(Value::Null),
            _ => Err(error("null can only be compared with eq or ne")),
        };
    }
    match kind {
        Kind::Text { .. } => match raw {
            RawValue::Text(text) => Ok(Value::Text(text)),
            RawValue::Word(word) => Err(error(format!(
                "{word} is not a string; {attribute:?} holds text",
            ))),
        },
        Kind::Boolean => {
            if op != CompareOp::Eq && op != CompareOp::Ne {
                return Err(error("a boolean can only be compared with eq or ne"));
            }
            match raw {
                RawValue::Word(word) if word == "true" => Ok(Value::Boolean(true)),
                RawValue::Word(word) if word == "false" => Ok(Value::Boolean(false)),
                _ => Err(error("expected true or false")),
            }
        }
        Kind::DateTime => {
            if op.is_substring() {
                return Err(error(
                    "a date can be compared with eq, ne, gt, ge, lt or le",
                ));
            }
            match raw {
                RawValue::Text(text) => {
                    OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                        .map(Value::Instant)
                        .map_err(|_| error(format!("\"{text}\" is not an RFC 3339 date-time")))
                }
                RawValue::Word(word) => Err(error(format!("{word} is not a date-time string"))),
            }
        }
        Kind::Id => {
            if op.is_substring() {
                return Err(error("an id can be compared with eq, ne, gt, ge, lt or le"));
            }
            let text = match raw {
                RawValue::Text(text) | RawValue::Word(text) => text,
            };
            Ok(Value::Id(text.parse::<i64>().ok().filter(|id| *id > 0)))
        }
    }
}

/// The core Group schema's URN, which may prefix a group's attribute names.
pub const GROUP_SCHEMA_PREFIX: &str = "urn:ietf:params:scim:schemas:core:2.0:Group:";

/// Strips the core Group schema's URN from an attribute path.
pub fn strip_group_schema(path: &str) -> &str {
    match path.get(..GROUP_SCHEMA_PREFIX.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(GROUP_SCHEMA_PREFIX) => {
            &path[GROUP_SCHEMA_PREFIX.len()..]
        }
        _ => path,
    }
}

/// One condition of a filter over groups. Identity providers look a group up
/// by its name, its external id or a member, so these are what a group list
/// takes, joined by `and`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupCondition {
    /// `displayName eq "…"`: the name, ignoring letter case.
    DisplayName(String),
    /// `externalId eq "…"`: exactly.
    ExternalId(String),
    /// `members[value eq "…"]` (or `members.value eq "…"`): a member's id as
    /// written; one that is no user's id matches no group.
    Member(String),
}

const GROUP_FILTERS: &str =
    "groups are filtered with displayName eq, externalId eq and members[value eq], joined by and";

impl GroupCondition {
    /// Parses a group list's filter: conditions joined by `and`.
    pub fn parse_all(text: &str) -> Result<Vec<Self>, FilterError> {
        if text.chars().count() > MAX_FILTER_CHARS {
            return Err(error(format!(
                "the filter is longer than {MAX_FILTER_CHARS} characters"
            )));
        }
        let mut tokens = tokenize(text)?.into_iter().peekable();
        let mut conditions = Vec::new();
        loop {
            if conditions.len() >= MAX_COMPARISONS {
                return Err(error(format!(
                    "the filter has more than {MAX_COMPARISONS} comparisons"
                )));
            }
            conditions.push(Self::parse_one(&mut tokens)?);
            match tokens.next() {
                None => return Ok(conditions),
                Some(Token::Word(word)) if word.eq_ignore_ascii_case("and") => {}
                Some(token) => {
                    return Err(error(format!("unexpected {token}: {GROUP_FILTERS}")));
                }
            }
        }
    }

    fn parse_one(tokens: &mut impl Iterator<Item = Token>) -> Result<Self, FilterError> {
        let path = match tokens.next() {
            Some(Token::Word(path)) => path,
            Some(token) => return Err(error(format!("unexpected {token}: {GROUP_FILTERS}"))),
            None => return Err(error("the filter ends where a condition should be")),
        };
        let attribute = strip_group_schema(&path).to_ascii_lowercase();
        if attribute == "members" {
            let mut tokens = tokens.peekable();
            if tokens.peek() == Some(&Token::OpenBracket) {
                tokens.next();
                let values = member_values(&mut tokens)?;
                return match values.as_slice() {
                    [value] => Ok(Self::Member(value.clone())),
                    _ => Err(error(GROUP_FILTERS)),
                };
            }
            return equal_to(&path, &mut tokens).map(Self::Member);
        }
        let value = equal_to(&path, tokens)?;
        match attribute.as_str() {
            "displayname" => Ok(Self::DisplayName(value)),
            "externalid" => Ok(Self::ExternalId(value)),
            "members.value" => Ok(Self::Member(value)),
            _ => Err(error(format!(
                "'{path}' cannot be filtered: {GROUP_FILTERS}"
            ))),
        }
    }
}

/// `eq "value"` after `path`: the value.
fn equal_to(path: &str, tokens: &mut impl Iterator<Item = Token>) -> Result<String, FilterError> {
    match tokens.next() {
        Some(Token::Word(op)) if op.eq_ignore_ascii_case("eq") => {}
        Some(Token::Word(op))
            if CompareOp::parse(&op).is_some() || op.eq_ignore_ascii_case("pr") =>
        {
            return Err(error(format!("'{op}' on '{path}': {GROUP_FILTERS}")));
        }
        Some(token) => return Err(error(format!("expected eq after '{path}', found {token}"))),
        None => return Err(error(format!("'{path}' needs an operator"))),
    }
    let value = match tokens.next() {
        Some(Token::Text(text)) => text,
        Some(Token::Word(word)) => {
            return Err(error(format!(
                "{word} is not a string; '{path}' holds text"
            )));
        }
        Some(token) => return Err(error(format!("expected a value, found {token}"))),
        None => return Err(error(format!("'{path}' needs a value"))),
    };
    if let Some(control) = value.chars().find(|c| c.is_control()) {
        return Err(error(format!(
            "the value compared with '{path}' contains the control character U+{:04X}",
            u32::from(control)
        )));
    }
    Ok(value)
}

/// Inside `members[…]`, up to and with the closing bracket: `value eq "…"`,
/// joined by `or`. The values, as written.
fn member_values(tokens: &mut impl Iterator<Item = Token>) -> Result<Vec<String>, FilterError> {
    let mut values = Vec::new();
    loop {
        match tokens.next() {
            Some(Token::Word(path)) if path.eq_ignore_ascii_case("value") => {}
            Some(token) => {
                return Err(error(format!(
                    "expected value inside members[…], found {token}"
                )));
            }
            None => return Err(error("members[ is not closed")),
        }
        values.push(equal_to("value", tokens)?);
        if values.len() > MAX_COMPARISONS {
            return Err(error(format!(
                "the filter has more than {MAX_COMPARISONS} comparisons"
            )));
        }
        match tokens.next() {
            Some(Token::CloseBracket) => return Ok(values),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("or") => {}
            Some(token) => return Err(error(format!("expected ']' or or, found {token}"))),
            None => return Err(error("members[ is not closed")),
        }
    }
}

/// The filter of a PATCH path `members[value eq "…"]` (the text inside the
/// brackets): the members' ids it names, as written. `or` names several.
pub fn parse_member_path_filter(text: &str) -> Result<Vec<String>, FilterError> {
    let mut tokens = tokenize(text)?;
    tokens.push(Token::CloseBracket);
    let mut tokens = tokens.into_iter();
    let values = member_values(&mut tokens)?;
    match tokens.next() {
        None => Ok(values),
        Some(token) => Err(error(format!("unexpected {token} after the filter"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fields_scim_path_names_that_field_and_back() {
        use crate::domain::user_fields::USER_FIELDS;

        for spec in USER_FIELDS {
            if let Some(path) = spec.scim {
                let attribute = Attribute::resolve(path).unwrap();
                assert_eq!(attribute.field(), Some(spec.field), "{path}");
            }
        }
        for path in [
            "id",
            "userName",
            "emails.value",
            "externalId",
            "name.formatted",
            "active",
            "meta.created",
            "meta.lastModified",
        ] {
            let field = Attribute::resolve(path).unwrap().field().unwrap();
            let named = field.spec().scim.unwrap();
            assert_eq!(Attribute::resolve(named).unwrap().field(), Some(field));
        }
    }

    fn compare(attribute: Attribute, op: CompareOp, value: Value) -> Filter {
        Filter::Compare {
            attribute,
            op,
            value,
        }
    }

    #[test]
    fn reads_a_comparison_with_any_letter_case() {
        assert_eq!(
            Filter::parse(r#"UserName EQ "Ada@Example.com""#).unwrap(),
            compare(
                Attribute::UserName,
                CompareOp::Eq,
                Value::Text("Ada@Example.com".into())
            )
        );
        assert_eq!(
            Filter::parse("urn:ietf:params:scim:schemas:core:2.0:User:active eq false").unwrap(),
            compare(Attribute::Active, CompareOp::Eq, Value::Boolean(false))
        );
    }

    #[test]
    fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
        let filter =
            Filter::parse(r#"a eq "x" or userName sw "a" and not (active eq true)"#).unwrap_err();
        assert!(filter.0.contains("'a'"), "{filter}");
        let filter =
            Filter::parse(r#"externalId pr or userName sw "a" and not (active eq true)"#).unwrap();
        assert_eq!(
            filter,
            Filter::Or(
                Box::new(Filter::Present(Attribute::ExternalId)),
                Box::new(Filter::And(
                    Box::new(compare(
                        Attribute::UserName,
                        CompareOp::Sw,
                        Value::Text("a".into())
                    )),
                    Box::new(Filter::Not(Box::new(compare(
                        Attribute::Active,
                        CompareOp::Eq,
                        Value::Boolean(true)
                    )))),
                )),
            )
        );
    }

    #[test]
    fn a_value_path_filters_the_email() {
        let filter =
            Filter::parse(r#"emails[type eq "work" and value co "@example.com"]"#).unwrap();
        assert_eq!(
            filter,
            Filter::And(
                Box::new(compare(
                    Attribute::EmailType,
                    CompareOp::Eq,
                    Value::Text("work".into())
                )),
                Box::new(compare(
                    Attribute::EmailValue,
                    CompareOp::Co,
                    Value::Text("@example.com".into())
                )),
            )
        );
    }

    #[test]
    fn strings_keep_quotes_percent_and_backslashes_literally() {
        let filter = Filter::parse(r#"userName eq "a\"b%c\\d' or 1=1 --""#).unwrap();
        assert_eq!(
            filter,
            compare(
                Attribute::UserName,
                CompareOp::Eq,
                Value::Text("a\"b%c\\d' or 1=1 --".into())
            )
        );
    }

    #[test]
    fn refuses_what_is_not_a_filter() {
        for bad in [
            "",
            "userName",
            r#"userName eq"#,
            r#"userName xx "a""#,
            r#"userName eq "open"#,
            r#"userName eq unquoted"#,
            r#"(userName eq "a""#,
            r#"userName eq "a")"#,
            r#"active eq "true""#,
            r#"active co true"#,
            r#"meta.created gt "yesterday""#,
            r#"name.givenName eq "x""#,
            r#"phoneNumbers[type eq "work"]"#,
            r#"userName eq "a" and"#,
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing_far() {
        let deep = format!("{}userName pr{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(Filter::parse(&deep).unwrap_err().0.contains("longer"));
        let nested = format!("{}userName pr{}", "(".repeat(40), ")".repeat(40));
        assert!(Filter::parse(&nested).unwrap_err().0.contains("deeper"));
        let nots = format!("{}userName pr{}", "not (".repeat(40), ")".repeat(40));
        assert!(Filter::parse(&nots).unwrap_err().0.contains("deeper"));
        let fine = format!("{}userName pr{}", "(".repeat(20), ")".repeat(20));
        assert_eq!(
            Filter::parse(&fine).unwrap(),
            Filter::Present(Attribute::UserName)
        );
    }

    #[test]
    fn at_most_fifty_comparisons() {
        let terms = |n: usize| {
            (0..n)
                .map(|i| format!("userName co \"{i}\""))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        assert!(Filter::parse(&terms(MAX_COMPARISONS)).is_ok());
        let refused = Filter::parse(&terms(MAX_COMPARISONS + 1)).unwrap_err();
        assert!(refused.0.contains("more than 50 comparisons"), "{refused}");
        let in_emails = format!("emails[{}]", terms(51).replace("userName", "value"));
        assert!(Filter::parse(&in_emails).is_err());
    }

    #[test]
    fn control_characters_in_values_are_refused_naming_the_attribute() {
        for bad in [
            "userName eq \"a\\u0000b\"",
            "displayName co \"\u{1}\"",
            "id eq 1\u{0}",
            "emails[value sw \"x\\n\"]",
        ] {
            let refused = Filter::parse(bad).unwrap_err();
            assert!(
                refused.0.contains("control character"),
                "{bad:?}: {refused}"
            );
        }
        let refused = Filter::parse("externalId eq \"a\\u0000\"").unwrap_err();
        assert!(refused.0.contains("'externalId'"), "{refused}");
        assert!(refused.0.contains("U+0000"), "{refused}");
    }

    #[test]
    fn an_id_that_no_user_can_have_matches_nothing() {
        assert_eq!(
            Filter::parse(r#"id eq "abc""#).unwrap(),
            compare(Attribute::Id, CompareOp::Eq, Value::Id(None))
        );
    }

    #[test]
    fn evaluates_in_memory_ignoring_case() {
        let filter = Filter::parse_in_emails(r#"type eq "WORK" and primary eq true"#).unwrap();
        let lookup = |attribute: Attribute| match attribute {
            Attribute::EmailType => Value::Text("work".into()),
            Attribute::EmailPrimary => Value::Boolean(true),
            _ => Value::Null,
        };
        assert!(filter.matches(&lookup));
        let other = Filter::parse_in_emails(r#"type eq "home""#).unwrap();
        assert!(!other.matches(&lookup));
    }

    #[test]
    fn group_filters_are_conditions_joined_by_and() {
        assert_eq!(
            GroupCondition::parse_all(r#"DisplayName EQ "Sales""#).unwrap(),
            [GroupCondition::DisplayName("Sales".into())]
        );
        assert_eq!(
            GroupCondition::parse_all(
                r#"urn:ietf:params:scim:schemas:core:2.0:Group:externalId eq "e-1" and members[value eq "42"]"#
            )
            .unwrap(),
            [
                GroupCondition::ExternalId("e-1".into()),
                GroupCondition::Member("42".into())
            ]
        );
        assert_eq!(
            GroupCondition::parse_all(r#"members.value eq "7""#).unwrap(),
            [GroupCondition::Member("7".into())]
        );
        for bad in [
            r#"displayName co "x""#,
            r#"displayName eq "x" or externalId eq "y""#,
            r#"members[value eq "1" or value eq "2"]"#,
            r#"members[display eq "a"]"#,
            r#"members[value eq "1""#,
            r#"userName eq "a""#,
            r#"displayName eq x"#,
            "displayName eq \"a\\u0000\"",
            r#"(displayName eq "x")"#,
            "",
        ] {
            assert!(
                GroupCondition::parse_all(bad).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn a_member_path_filter_names_members() {
        assert_eq!(
            parse_member_path_filter(r#"value eq "12""#).unwrap(),
            ["12"]
        );
        assert_eq!(
            parse_member_path_filter(r#"Value EQ "1" or value eq "2""#).unwrap(),
            ["1", "2"]
        );
        for bad in [
            r#"value ne "1""#,
            r#"type eq "User""#,
            r#"value eq "1"]"#,
            "",
        ] {
            assert!(
                parse_member_path_filter(bad).is_err(),
                "{bad:?} was accepted"
            );
        }
    }
}
