//! Typed settings, read from the environment only.
//!
//! Every value is parsed once at start-up; a missing or malformed one stops the
//! process with one line naming the variable. Secrets are `SecretString`, so they
//! never reach a log line by accident.

pub mod connection_limit;

pub use connection_limit::default_max_connections;

use std::{net::IpAddr, time::Duration};

use secrecy::{ExposeSecret, SecretString};

/// A setting that could not be used, named so the operator knows what to fix.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn new(name: &'static str, problem: impl Into<String>) -> Self {
        Self {
            name,
            problem: problem.into(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Which forwarding header names the real client, when a proxy we trust sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedProxy {
    /// `X-Forwarded-For`: the right-most address is the one our proxy appended.
    XForwardedFor,
    /// `X-Real-IP`, as nginx sets it.
    XRealIp,
}

/// The first admin, created at start-up when no admin exists yet.
#[derive(Debug, Clone)]
pub struct AdminBootstrap {
    pub email: String,
    pub name: String,
    pub password: Option<SecretString>,
}

/// Everything the service reads from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: SecretString,
    pub redis_url: SecretString,
    /// Prefix of every Redis key the service writes, login sessions included.
    pub redis_key_prefix: String,
    pub bind: IpAddr,
    pub port: u16,
    pub admin: AdminBootstrap,
    pub cookie_secure: bool,
    pub session_idle: Duration,
    pub session_max: Duration,
    pub trusted_proxy: Option<TrustedProxy>,
    pub log_format: LogFormat,
    pub cache_ttl: Duration,
    /// Bytes of user-list pages kept in this process (0: none, every hit asks Redis).
    pub local_cache_max_bytes: u64,
    pub db_max_connections: u32,
    /// Signs the login form's CSRF cookie; unset, a key generated once and kept
    /// in the database is used, so every instance shares it.
    pub secret_key: Option<SecretString>,
    /// Audit events older than this are purged; `None` keeps everything
    /// (`AUDIT_RETENTION_DAYS=0`).
    pub audit_retention: Option<Duration>,
    /// How long a deleted user can be restored before it is purged.
    pub user_restore: Duration,
    /// The longest lifetime of a new API token, in days, and its default; 0:
    /// no ceiling, and tokens do not expire unless asked to.
    pub token_max_days: u32,
    /// Open client connections at most; see [`default_max_connections`].
    pub max_connections: usize,
    /// The largest file `POST /users/import` takes.
    pub import_max_bytes: u64,
    /// Lets webhooks reach loopback, private, link-local and metadata addresses
    /// (refused by default: a webhook must not become a way into the network).
    pub webhook_allow_private: bool,
    /// Admins must log in with a second factor (TOTP); one without is sent to
    /// enrol right after the password.
    pub require_2fa: bool,
    /// The address clients reach the service at (`https://admin.example.com`, no
    /// trailing slash), for absolute links such as SCIM's `meta.location`. Unset,
    /// such links are relative: a `Host` header is the client's word, not ours.
    pub public_url: Option<String>,
    /// Where `/metrics` is served (SPEC §15); `None`: no metrics listener.
    pub metrics_bind: Option<std::net::SocketAddr>,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can pass a map instead of the
    /// process environment. Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let db_max_connections = env.positive("DATABASE_MAX_CONNECTIONS", 16)?;
        let default_max_connections =
            default_max_connections(usize::try_from(db_max_connections).unwrap_or(usize::MAX));
        let bind = env.parse("BIND", "0.0.0.0".parse().expect("valid address"))?;
        let port = env.parse("PORT", 5000)?;
        Ok(Self {
            metrics_bind: metrics_bind(&env, std::net::SocketAddr::new(bind, port))?,
            database_url: database_url(&env)?,
            redis_url: redis_url(&env)?,
            redis_key_prefix: env
                .get("REDIS_KEY_PREFIX")
                .unwrap_or_else(|| "useradmin:".into()),
            bind,
            port,
            admin: AdminBootstrap {
                email: env
                    .get("ADMIN_EMAIL")
                    .unwrap_or_else(|| "admin@example.com".into()),
                name: env
                    .get("ADMIN_NAME")
                    .unwrap_or_else(|| "Administrator".into()),
                password: env.get("ADMIN_PASSWORD").map(SecretString::from),
            },
            cookie_secure: env.boolean("COOKIE_SECURE", true)?,
            session_idle: Duration::from_secs(60 * env.positive("SESSION_IDLE_MINUTES", 30)?),
            session_max: Duration::from_secs(3600 * env.positive("SESSION_MAX_HOURS", 12)?),
            trusted_proxy: trusted_proxy(&env)?,
            log_format: log_format(&env)?,
            cache_ttl: Duration::from_secs(env.positive("CACHE_TTL_SECONDS", 300)?),
            local_cache_max_bytes: env.parse::<u64>("LOCAL_CACHE_MAX_BYTES", 8 * 1024 * 1024)?,
            db_max_connections: db_max_connections as u32,
            max_connections: env.positive("MAX_CONNECTIONS", default_max_connections as u64)?
                as usize,
            secret_key: secret_key(&env)?,
            user_restore: Duration::from_secs(
                env.positive("USER_RESTORE_DAYS", 30)?
                    .saturating_mul(86_400),
            ),
            token_max_days: token_max_days(&env)?,
            import_max_bytes: env.positive("IMPORT_MAX_BYTES", 16 * 1024 * 1024)?,
            webhook_allow_private: env.boolean("WEBHOOK_ALLOW_PRIVATE", false)?,
            require_2fa: env.boolean("REQUIRE_2FA", false)?,
            public_url: public_url(&env)?,
            audit_retention: match env.parse::<u64>("AUDIT_RETENTION_DAYS", 365)? {
                0 => None,
                days => Some(Duration::from_secs(days.saturating_mul(86_400))),
            },
        })
    }

    /// The address the HTTP server listens on.
    pub fn listen_address(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.bind, self.port)
    }
}

/// `METRICS_BIND`: an address and port (`0.0.0.0:9100`), never the public
/// listener's port on an address that overlaps it.
fn metrics_bind(
    env: &Env<'_>,
    public: std::net::SocketAddr,
) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    let Some(raw) = env.get("METRICS_BIND") else {
        return Ok(None);
    };
    let address: std::net::SocketAddr = raw.trim().parse().map_err(|_| {
        ConfigError::new(
            "METRICS_BIND",
            format!("{raw:?} is not an address and port, e.g. 0.0.0.0:9100"),
        )
    })?;
    let overlaps = address.ip() == public.ip()
        || address.ip().is_unspecified()
        || public.ip().is_unspecified();
    if address.port() == public.port() && overlaps {
        return Err(ConfigError::new(
            "METRICS_BIND",
            format!(
                "{address} is the public listener's port ({public}); metrics need a port of their own, e.g. 0.0.0.0:9100"
            ),
        ));
    }
    Ok(Some(address))
}

/// `TOKEN_MAX_DAYS`: 0 to 36500 (a hundred years).
fn token_max_days(env: &Env<'_>) -> Result<u32, ConfigError> {
    let days = env.parse::<u32>("TOKEN_MAX_DAYS", 365)?;
    if days > crate::domain::token_grant::UNBOUNDED_MAX_DAYS {
        return Err(ConfigError::new("TOKEN_MAX_DAYS", "must be at most 36500"));
    }
    Ok(days)
}

/// `PORT` alone, for commands (like `healthcheck`) that need nothing else.
pub fn port_from_env() -> Result<u16, ConfigError> {
    let lookup = |name: &str| std::env::var(name).ok();
    Env(&lookup).parse("PORT", 5000)
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|value| !value.trim().is_empty())
    }

    fn parse<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| ConfigError::new(name, format!("{raw:?} ({e})"))),
        }
    }

    fn positive(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        let value: u64 = self.parse(name, default)?;
        if value == 0 {
            return Err(ConfigError::new(name, "must be greater than 0"));
        }
        Ok(value)
    }

    fn boolean(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::new(
                name,
                format!("{v:?} is not true or false"),
            )),
        }
    }
}

fn secret_key(env: &Env) -> Result<Option<SecretString>, ConfigError> {
    match env.get("SECRET_KEY") {
        None => Ok(None),
        // Shorter keys are guessable offline from one signed cookie.
        Some(key) if key.trim().len() < 32 => Err(ConfigError::new(
            "SECRET_KEY",
            "must be at least 32 characters (e.g. `openssl rand -hex 32`)",
        )),
        Some(key) => Ok(Some(SecretString::from(key.trim().to_owned()))),
    }
}

fn database_url(env: &Env) -> Result<SecretString, ConfigError> {
    if let Some(url) = env.get("DATABASE_URL") {
        if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must start with postgres:// or postgresql://",
            ));
        }
        return Ok(url.into());
    }
    let user = env
        .get("POSTGRES_USER")
        .unwrap_or_else(|| "postgres".into());
    let password = env.get("POSTGRES_PASSWORD");
    let host = env
        .get("POSTGRES_HOST")
        .unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = env.parse("POSTGRES_PORT", 5432)?;
    let db = env.get("POSTGRES_DB").unwrap_or_else(|| "useradmin".into());
    let credentials = match password {
        Some(password) => format!("{}:{}", encode(&user), encode(&password)),
        None => encode(&user),
    };
    Ok(format!("postgres://{credentials}@{host}:{port}/{}", encode(&db)).into())
}

fn redis_url(env: &Env) -> Result<SecretString, ConfigError> {
    if let Some(url) = env.get("REDIS_URL") {
        let known = [
            "redis://",
            "rediss://",
            "redis-sentinel://",
            "redis-cluster://",
        ];
        if !known.iter().any(|scheme| url.starts_with(scheme)) {
            return Err(ConfigError::new(
                "REDIS_URL",
                "must start with redis://, rediss://, redis-sentinel:// or redis-cluster://",
            ));
        }
        return Ok(url.into());
    }
    let host = env.get("REDIS_HOST").unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = env.parse("REDIS_PORT", 6379)?;
    Ok(format!("redis://{host}:{port}/0").into())
}

fn trusted_proxy(env: &Env) -> Result<Option<TrustedProxy>, ConfigError> {
    match env
        .get("TRUSTED_PROXY")
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => Ok(None),
        Some(v) if v == "x-forwarded-for" => Ok(Some(TrustedProxy::XForwardedFor)),
        Some(v) if v == "x-real-ip" => Ok(Some(TrustedProxy::XRealIp)),
        Some(v) => Err(ConfigError::new(
            "TRUSTED_PROXY",
            format!("{v:?}: expected x-forwarded-for or x-real-ip"),
        )),
    }
}

/// `PUBLIC_URL`: an absolute http(s) URL with a host and nothing after its path,
/// kept without a trailing slash so paths can be appended to it.
fn public_url(env: &Env) -> Result<Option<String>, ConfigError> {
    let Some(raw) = env.get("PUBLIC_URL") else {
        return Ok(None);
    };
    let raw = raw.trim();
    let bad = |why: &str| ConfigError::new("PUBLIC_URL", format!("{raw:?}: {why}"));
    let parsed = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("expected an http:// or https:// URL"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("expected a host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("expected no query or fragment"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("expected no user or password"));
    }
    Ok(Some(parsed.as_str().trim_end_matches('/').to_owned()))
}

fn log_format(env: &Env) -> Result<LogFormat, ConfigError> {
    match env.get("LOG_FORMAT").map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(LogFormat::Pretty),
        Some(v) if v == "pretty" => Ok(LogFormat::Pretty),
        Some(v) if v == "json" => Ok(LogFormat::Json),
        Some(v) => Err(ConfigError::new(
            "LOG_FORMAT",
            format!("{v:?}: expected pretty or json"),
        )),
    }
}

/// Percent-encodes one URL component (user, password, database name).
fn encode(component: &str) -> String {
    percent_encoding::utf8_percent_encode(component, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A connection URL without its password, for log lines.
pub fn redacted_url(url: &SecretString) -> String {
    match url::Url::parse(url.expose_secret()) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(unparsable url)".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_original_service() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.port, 5000);
        assert_eq!(s.bind.to_string(), "0.0.0.0");
        assert_eq!(s.admin.email, "admin@example.com");
        assert!(s.cookie_secure);
        assert_eq!(s.session_idle, Duration::from_secs(30 * 60));
        assert_eq!(s.session_max, Duration::from_secs(12 * 3600));
        assert_eq!(s.trusted_proxy, None);
        assert_eq!(
            s.database_url.expose_secret(),
            "postgres://postgres@127.0.0.1:5432/useradmin"
        );
        assert_eq!(s.redis_url.expose_secret(), "redis://127.0.0.1:6379/0");
    }

    #[test]
    fn public_url_is_an_absolute_http_url_without_its_trailing_slash() {
        assert_eq!(settings(&[]).unwrap().public_url, None);
        let s = settings(&[("PUBLIC_URL", "https://admin.example.com/")]).unwrap();
        assert_eq!(s.public_url.as_deref(), Some("https://admin.example.com"));
        let s = settings(&[("PUBLIC_URL", "http://example.com:8080/useradmin/")]).unwrap();
        assert_eq!(
            s.public_url.as_deref(),
            Some("http://example.com:8080/useradmin")
        );
        for bad in [
            "admin.example.com",
            "ftp://example.com",
            "https://example.com/?a=1",
            "https://user:pw@example.com",
        ] {
            let error = settings(&[("PUBLIC_URL", bad)]).unwrap_err();
            assert_eq!(error.name, "PUBLIC_URL", "{bad}");
        }
    }

    #[test]
    fn the_originals_postgres_variables_build_the_url_and_database_url_wins() {
        let s = settings(&[
            ("POSTGRES_USER", "app"),
            ("POSTGRES_PASSWORD", "p@ss word"),
            ("POSTGRES_HOST", "db"),
            ("POSTGRES_DB", "users"),
        ])
        .unwrap();
        assert_eq!(
            s.database_url.expose_secret(),
            "postgres://app:p%40ss%20word@db:5432/users"
        );
        let s = settings(&[
            ("POSTGRES_HOST", "db"),
            ("DATABASE_URL", "postgres://x@y/z"),
        ])
        .unwrap();
        assert_eq!(s.database_url.expose_secret(), "postgres://x@y/z");
    }

    #[test]
    fn redis_url_wins_over_host_and_port() {
        let s = settings(&[("REDIS_HOST", "cache"), ("REDIS_PORT", "6380")]).unwrap();
        assert_eq!(s.redis_url.expose_secret(), "redis://cache:6380/0");
        let s = settings(&[("REDIS_HOST", "cache"), ("REDIS_URL", "rediss://r:6379")]).unwrap();
        assert_eq!(s.redis_url.expose_secret(), "rediss://r:6379");
    }

    #[test]
    fn a_malformed_value_names_its_variable() {
        for (name, value) in [
            ("PORT", "eighty"),
            ("PORT", "70000"),
            ("BIND", "localhost:1"),
            ("COOKIE_SECURE", "maybe"),
            ("SESSION_IDLE_MINUTES", "0"),
            ("SESSION_MAX_HOURS", "-1"),
            ("LOG_FORMAT", "xml"),
            ("TRUSTED_PROXY", "everyone"),
            ("DATABASE_URL", "mysql://x"),
            ("REDIS_URL", "http://x"),
            ("POSTGRES_PORT", "x"),
            ("MAX_CONNECTIONS", "0"),
            ("MAX_CONNECTIONS", "many"),
            ("MAX_CONNECTIONS", "-5"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name, "{value}");
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid setting {name}:"))
            );
        }
    }

    #[test]
    fn metrics_listen_apart_from_the_public_port_or_not_at_all() {
        assert_eq!(settings(&[]).unwrap().metrics_bind, None);
        let set = settings(&[("METRICS_BIND", "0.0.0.0:9100")]).unwrap();
        assert_eq!(set.metrics_bind, Some("0.0.0.0:9100".parse().unwrap()));
        for (pairs, needle) in [
            (vec![("METRICS_BIND", "9100")], "not an address and port"),
            (vec![("METRICS_BIND", "0.0.0.0:5000")], "port of their own"),
            (
                vec![("METRICS_BIND", "127.0.0.1:8000"), ("PORT", "8000")],
                "port of their own",
            ),
        ] {
            let err = settings(&pairs).unwrap_err();
            assert_eq!(err.name, "METRICS_BIND");
            assert!(err.to_string().contains(needle), "{err}");
        }
        // Another address with the same port does not overlap the public one.
        let apart = settings(&[("BIND", "127.0.0.1"), ("METRICS_BIND", "10.0.0.5:5000")]).unwrap();
        assert!(apart.metrics_bind.is_some());
    }

    #[test]
    fn max_connections_defaults_below_the_file_limit_and_can_be_set() {
        assert_eq!(
            settings(&[("DATABASE_MAX_CONNECTIONS", "40")])
                .unwrap()
                .max_connections,
            default_max_connections(40),
            "the default keeps room for the database pool"
        );
        assert_eq!(
            settings(&[("MAX_CONNECTIONS", "20")])
                .unwrap()
                .max_connections,
            20
        );
    }

    #[test]
    fn redacted_url_hides_the_password_only() {
        let url = SecretString::from("postgres://app:secret@db:5432/users");
        assert_eq!(redacted_url(&url), "postgres://app:***@db:5432/users");
        let url = SecretString::from("redis://cache:6379/0");
        assert_eq!(redacted_url(&url), "redis://cache:6379/0");
    }
}
