//! Deployment checks that run where there is no Docker engine.
//!
//! * `docker-compose.yml` is read as YAML (not grepped) and must keep every promise
//!   docs/DEPLOYMENT.md makes of it: services, pinned images (the tags the docs
//!   name), healthchecks, `depends_on` conditions, the named volume, published
//!   ports, grace period, restart policies, the binary's default log filter.
//! * The commands that the Dockerfile, compose and the Kubernetes manifests run
//!   must exist in the binary that this crate builds.
//! * `useradmin healthcheck` exits 0 against a running instance and non-zero against
//!   a stopped one or one whose Redis is down; the instance is started with exactly
//!   the environment compose gives `web` (as on a fresh clone, with no `.env`), the
//!   service hosts `db` and `cache` mapped to the local PostgreSQL and Redis.
//! * The Kubernetes manifests keep the promises docs/DEPLOYMENT.md makes of them
//!   (their schema is checked by `deploy/kubernetes/validate.sh`).
//!
//! Local services: PostgreSQL at 127.0.0.1:5432 (role `postgres`) and Redis at
//! 127.0.0.1:6379, or where `DATABASE_URL` / `REDIS_URL` point. Each instance gets a
//! fresh database, its own Redis key prefix and a free port, so the tests run in
//! parallel with each other and with the API tests.

use std::{
    collections::{BTreeMap, BTreeSet},
    hash::{BuildHasher, Hasher},
    path::PathBuf,
    process::{ExitStatus, Stdio},
    time::{Duration, Instant},
};

#[path = "deployment/metrics.rs"]
mod metrics;

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_useradmin");

/// How long an instance may take from spawn to healthy (creating its database and
/// applying migrations included), on a busy 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// After SIGTERM the process drains for at most 10 s and exits 0.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn compose() -> Value {
    serde_yaml_ng::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is valid YAML")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Mapping {
    compose["services"][name]
        .as_mapping()
        .unwrap_or_else(|| panic!("docker-compose.yml has no service {name:?}"))
}

// ---------------------------------------------------------------------------------
// Compose's variable substitution, as on a fresh clone (no .env: every variable unset)
// ---------------------------------------------------------------------------------

/// Substitutes `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:?message}`, `${VAR?message}`, `${VAR:+other}` and `${VAR+other}` the way
/// docker compose does, with `vars` as the variables that are set.
fn interpolate(text: &str, vars: &BTreeMap<String, String>) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                // Find the matching brace (defaults may nest ${...}).
                let mut depth = 1;
                let mut j = i + 2;
                while j < chars.len() && depth > 0 {
                    match chars[j] {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    j += 1;
                }
                assert!(depth == 0, "unclosed ${{ in {text:?}");
                let inner: String = chars[i + 2..j - 1].iter().collect();
                out.push_str(&expand(&inner, vars, text));
                i = j;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.push_str(vars.get(&name).map_or("", String::as_str));
                i = j;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    out
}

fn expand(inner: &str, vars: &BTreeMap<String, String>, text: &str) -> String {
    let name_end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, rest) = inner.split_at(name_end);
    assert!(
        !name.is_empty(),
        "bad substitution ${{{inner}}} in {text:?}"
    );
    let value = vars.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    let own = || value.cloned().unwrap_or_default();
    let operand = |prefix: &str| interpolate(&rest[prefix.len()..], vars);
    if rest.is_empty() {
        own()
    } else if rest.starts_with(":-") {
        if non_empty { own() } else { operand(":-") }
    } else if rest.starts_with('-') {
        if set { own() } else { operand("-") }
    } else if rest.starts_with(":?") || rest.starts_with('?') {
        let required = if rest.starts_with(":?") {
            non_empty
        } else {
            set
        };
        assert!(
            required,
            "${{{inner}}} in {text:?} is required: compose would refuse to start without a .env"
        );
        own()
    } else if rest.starts_with(":+") {
        if non_empty {
            operand(":+")
        } else {
            String::new()
        }
    } else if rest.starts_with('+') {
        if set { operand("+") } else { String::new() }
    } else {
        panic!("unsupported substitution ${{{inner}}} in {text:?}")
    }
}

/// The variable names a text refers to (`${NAME...}` or `$NAME`; not `$$`).
fn referenced_variables(text: &str, names: &mut BTreeSet<String>) {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && chars.get(i + 1) == Some(&'$') {
            i += 2;
            continue;
        }
        if chars[i] == '$' {
            let start = if chars.get(i + 1) == Some(&'{') {
                i + 2
            } else {
                i + 1
            };
            let mut j = start;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j > start {
                names.insert(chars[start..j].iter().collect());
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
}

fn all_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Sequence(items) => items.iter().for_each(|v| all_strings(v, out)),
        Value::Mapping(map) => map.iter().for_each(|(k, v)| {
            all_strings(k, out);
            all_strings(v, out);
        }),
        Value::Tagged(tagged) => all_strings(&tagged.value, out),
        _ => {}
    }
}

fn no_vars() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// A scalar as compose reads it: strings are substituted, numbers and booleans
/// are taken as written.
fn scalar(value: &Value, vars: &BTreeMap<String, String>) -> Option<String> {
    match value {
        Value::String(s) => Some(interpolate(s, vars)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A service's `environment:` (map or `KEY=VALUE` list form), substituted.
fn environment(service: &Mapping, vars: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    match service.get("environment") {
        None => {}
        Some(Value::Mapping(map)) => {
            for (key, value) in map {
                let key = key
                    .as_str()
                    .expect("environment keys are strings")
                    .to_owned();
                // A key without a value passes the shell's variable through: unset here.
                if let Some(value) = scalar(value, vars) {
                    env.insert(key, value);
                }
            }
        }
        Some(Value::Sequence(items)) => {
            for item in items {
                let item = interpolate(item.as_str().expect("KEY=VALUE strings"), vars);
                if let Some((key, value)) = item.split_once('=') {
                    env.insert(key.to_owned(), value.to_owned());
                }
            }
        }
        Some(other) => panic!("unexpected environment: {other:?}"),
    }
    env
}

/// One published port: (host address, host port, container port).
#[derive(Debug, PartialEq)]
struct Published {
    host_ip: Option<String>,
    host_port: Option<String>,
    container_port: String,
}

fn published_ports(service: &Mapping, vars: &BTreeMap<String, String>) -> Vec<Published> {
    let Some(ports) = service.get("ports") else {
        return Vec::new();
    };
    let ports = ports.as_sequence().expect("ports is a list");
    ports
        .iter()
        .map(|port| match port {
            Value::Mapping(long) => Published {
                host_ip: long.get("host_ip").and_then(|v| scalar(v, vars)),
                host_port: long.get("published").and_then(|v| scalar(v, vars)),
                container_port: long
                    .get("target")
                    .and_then(|v| scalar(v, vars))
                    .expect("target"),
            },
            short => {
                let short = scalar(short, vars).expect("a port string");
                let short = short.split('/').next().unwrap_or_default().to_owned();
                let parts: Vec<&str> = short.rsplitn(3, ':').collect();
                match parts.as_slice() {
                    [container] => Published {
                        host_ip: None,
                        host_port: None,
                        container_port: container.to_string(),
                    },
                    [container, host] => Published {
                        host_ip: None,
                        host_port: Some(host.to_string()),
                        container_port: container.to_string(),
                    },
                    [container, host, ip] => Published {
                        host_ip: Some(ip.to_string()),
                        host_port: Some(host.to_string()),
                        container_port: container.to_string(),
                    },
                    _ => unreachable!(),
                }
            }
        })
        .collect()
}

/// A compose duration such as `15s`, `1m30s` or `500ms`.
fn duration(text: &str) -> Duration {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    assert!(!rest.is_empty(), "empty duration");
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits]
            .parse()
            .unwrap_or_else(|_| panic!("bad duration {text:?}"));
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            unit => panic!("bad duration unit {unit:?} in {text:?}"),
        };
        total += Duration::from_secs_f64(number * seconds);
        rest = &rest[unit_len..];
    }
    total
}

/// The healthcheck command of a compose service, as a list of words after
/// `CMD` (or a one-element list holding the `CMD-SHELL` script).
fn healthcheck_test(name: &str, service: &Mapping) -> (String, Vec<String>) {
    let check = service
        .get("healthcheck")
        .and_then(Value::as_mapping)
        .unwrap_or_else(|| panic!("service {name} has no healthcheck"));
    assert_ne!(
        check.get("disable").and_then(Value::as_bool),
        Some(true),
        "service {name}: healthcheck disabled"
    );
    let test = check
        .get("test")
        .unwrap_or_else(|| panic!("service {name}: healthcheck without test"));
    let (form, words) = match test {
        Value::String(script) => ("CMD-SHELL".to_owned(), vec![script.clone()]),
        Value::Sequence(items) => {
            let words: Vec<String> = items
                .iter()
                .map(|v| {
                    v.as_str()
                        .expect("healthcheck words are strings")
                        .to_owned()
                })
                .collect();
            let (form, rest) = words.split_first().expect("non-empty healthcheck test");
            (form.clone(), rest.to_vec())
        }
        other => panic!("service {name}: unexpected healthcheck test {other:?}"),
    };
    assert!(
        matches!(form.as_str(), "CMD" | "CMD-SHELL"),
        "service {name}: healthcheck test must be CMD or CMD-SHELL, not {form}"
    );
    assert!(
        !words.is_empty() && !words[0].trim().is_empty(),
        "service {name}: empty healthcheck"
    );
    (form, words)
}

fn image_tag(name: &str, service: &Mapping) -> (String, String) {
    let image = service
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("service {name} has no image"));
    let image = interpolate(image, &no_vars());
    let image = image.split('@').next().unwrap_or_default();
    let (repository, tag) = image
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .unwrap_or_else(|| panic!("service {name}: image {image:?} has no tag"));
    (repository.to_owned(), tag.to_owned())
}

fn major(tag: &str) -> Option<u32> {
    let digits: String = tag.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

const SERVICES: [&str; 4] = ["web", "db", "cache", "adminer"];

// ---------------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------------

#[test]
fn compose_has_the_four_services_with_pinned_images() {
    let compose = compose();
    for name in SERVICES {
        service(&compose, name);
    }

    let web = service(&compose, "web");
    assert!(
        web.get("build").is_some(),
        "web is built from this repository"
    );
    assert!(
        web.get("container_name").is_none(),
        "web must not set container_name (it would forbid `docker compose up --scale web=2`)"
    );

    let (repository, tag) = image_tag("db", service(&compose, "db"));
    assert!(
        repository.ends_with("postgres"),
        "db runs postgres, not {repository}"
    );
    let pg_major =
        major(&tag).unwrap_or_else(|| panic!("db: postgres:{tag} does not pin a major version"));
    assert!(pg_major >= 15, "db: PostgreSQL {pg_major} is older than 15");

    let (repository, tag) = image_tag("cache", service(&compose, "cache"));
    assert!(
        repository.ends_with("redis"),
        "cache runs redis, not {repository}"
    );
    assert_eq!(major(&tag), Some(7), "cache: redis:{tag} is not redis:7");

    let (repository, tag) = image_tag("adminer", service(&compose, "adminer"));
    assert!(
        repository.ends_with("adminer"),
        "adminer runs adminer, not {repository}"
    );
    assert!(
        major(&tag).is_some(),
        "adminer:{tag} does not pin a major version"
    );
}

#[test]
fn compose_services_have_healthchecks_and_web_checks_itself_with_the_binary() {
    let compose = compose();
    for name in SERVICES {
        healthcheck_test(name, service(&compose, name));
    }

    let (form, words) = healthcheck_test("web", service(&compose, "web"));
    assert_eq!(
        form, "CMD",
        "web's healthcheck runs the binary directly (no shell, no curl)"
    );
    assert_eq!(words[0], "useradmin");
    assert_eq!(words[1], "healthcheck");
    assert_subcommand_exists(&words[1..]);

    let (_, words) = healthcheck_test("db", service(&compose, "db"));
    let script = words.join(" ");
    assert!(script.contains("pg_isready"), "db: {script}");
    assert!(
        script.contains("-U") && script.contains("-d"),
        "db: pg_isready must name the user and database: {script}"
    );

    let (_, words) = healthcheck_test("cache", service(&compose, "cache"));
    let script = words.join(" ");
    assert!(
        script.contains("redis-cli") && script.contains("ping"),
        "cache: {script}"
    );
}

#[test]
fn compose_starts_web_and_adminer_only_after_their_dependencies_are_healthy() {
    let compose = compose();
    for (name, dependencies) in [("web", &["db", "cache"][..]), ("adminer", &["db"][..])] {
        let depends_on = service(&compose, name)
            .get("depends_on")
            .and_then(Value::as_mapping)
            .unwrap_or_else(|| panic!("{name}: depends_on must be a map with conditions"));
        for dependency in dependencies {
            let condition = depends_on
                .get(*dependency)
                .and_then(|d| d.get("condition"))
                .and_then(Value::as_str);
            assert_eq!(
                condition,
                Some("service_healthy"),
                "{name} depends on {dependency} being healthy"
            );
        }
    }
}

#[test]
fn compose_keeps_postgres_in_a_named_volume() {
    let compose = compose();
    let volumes = compose["volumes"]
        .as_mapping()
        .expect("top-level volumes: declares the named volume");
    let db = service(&compose, "db");
    let mounts = db
        .get("volumes")
        .and_then(Value::as_sequence)
        .expect("db mounts a volume");
    let data = mounts
        .iter()
        .find_map(|mount| match mount {
            Value::String(short) => {
                let short = interpolate(short, &no_vars());
                let (source, target) = short.split_once(':')?;
                let target = target.split(':').next()?;
                Some((source.to_owned(), target.to_owned()))
            }
            Value::Mapping(long) => Some((
                long.get("source")?.as_str()?.to_owned(),
                long.get("target")?.as_str()?.to_owned(),
            )),
            _ => None,
        })
        .expect("db mounts its data directory");
    assert_eq!(
        data.1, "/var/lib/postgresql/data",
        "the postgres image keeps its data there (PGDATA)"
    );
    assert!(
        !data.0.starts_with('.') && !data.0.starts_with('/'),
        "db data is in a named volume, not the bind mount {}",
        data.0
    );
    assert!(
        volumes.contains_key(data.0.as_str()),
        "volume {} is declared under top-level volumes:",
        data.0
    );
}

#[test]
fn compose_publishes_no_database_ports_and_adminer_on_loopback_only() {
    let compose = compose();
    for name in ["db", "cache"] {
        let db = service(&compose, name);
        assert!(
            published_ports(db, &no_vars()).is_empty(),
            "{name} must publish no host ports"
        );
        assert!(db.get("network_mode").is_none(), "{name}: no network_mode");
    }

    let adminer = service(&compose, "adminer");
    assert_eq!(
        published_ports(adminer, &no_vars()),
        vec![Published {
            host_ip: Some("127.0.0.1".into()),
            host_port: Some("8080".into()),
            container_port: "8080".into(),
        }]
    );
    assert_eq!(
        environment(adminer, &no_vars())
            .get("ADMINER_DEFAULT_SERVER")
            .map(String::as_str),
        Some("db")
    );

    // web: the container port is the one the image exposes; while cookies are not
    // Secure (plain http), the host side stays on loopback.
    let web = service(&compose, "web");
    let env = environment(web, &no_vars());
    let ports = published_ports(web, &no_vars());
    assert_eq!(ports.len(), 1, "web publishes one port: {ports:?}");
    assert_eq!(ports[0].container_port, env["PORT"]);
    assert!(
        dockerfile().exposed.contains(&ports[0].container_port),
        "web publishes the port the Dockerfile exposes"
    );
    if env["COOKIE_SECURE"] == "false" {
        assert_eq!(
            ports[0].host_ip.as_deref(),
            Some("127.0.0.1"),
            "with COOKIE_SECURE=false (plain http) the default must not publish web beyond this machine"
        );
    }
}

#[test]
fn compose_gives_time_to_drain_and_restarts_services() {
    let compose = compose();
    let web = service(&compose, "web");
    let grace = duration(
        web.get("stop_grace_period")
            .and_then(Value::as_str)
            .expect("web sets stop_grace_period"),
    );
    assert_eq!(
        grace,
        Duration::from_secs(15),
        "stop_grace_period 15 s: above the 10 s drain limit, with room to exit"
    );
    assert!(
        grace > useradmin::startup::DRAIN_LIMIT,
        "the drain limit must end before compose kills the container"
    );
    if let Some(signal) = web.get("stop_signal").and_then(Value::as_str) {
        assert_eq!(signal, "SIGTERM");
    }
    for name in SERVICES {
        let restart = service(&compose, name)
            .get("restart")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{name} has no restart policy"));
        assert!(
            matches!(restart, "always" | "unless-stopped") || restart.starts_with("on-failure"),
            "{name}: restart: {restart}"
        );
    }
}

#[test]
fn compose_works_without_a_dot_env_and_env_example_documents_it() {
    let compose = compose();

    // Every string in the file substitutes without a .env (no ${VAR:?...} left unset).
    let mut strings = Vec::new();
    all_strings(&compose, &mut strings);
    let mut names = BTreeSet::new();
    for text in &strings {
        interpolate(text, &no_vars());
        referenced_variables(text, &mut names);
    }

    // .env.example documents every variable the compose file reads, with the same
    // values as the defaults (so copying it changes nothing until it is edited).
    let example = read(".env.example");
    let mut documented = BTreeMap::new();
    let mut commented = BTreeSet::new();
    for line in example.lines() {
        let line = line.trim();
        let (active, line) = match line.strip_prefix('#') {
            Some(rest) => (false, rest.trim()),
            None => (true, line),
        };
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        if active {
            documented.insert(key.to_owned(), value.trim().to_owned());
        } else {
            commented.insert(key.to_owned());
        }
    }
    for name in &names {
        assert!(
            documented.contains_key(name),
            ".env.example does not document {name}, which docker-compose.yml reads"
        );
    }
    for name in [
        "DATABASE_URL",
        "REDIS_URL",
        "POSTGRES_HOST",
        "POSTGRES_PORT",
        "REDIS_HOST",
        "REDIS_PORT",
        "BIND",
    ] {
        assert!(
            documented.contains_key(name) || commented.contains(name),
            ".env.example does not mention {name}"
        );
    }
    for name in SERVICES {
        let s = service(&compose, name);
        assert_eq!(
            environment(s, &no_vars()),
            environment(s, &documented),
            "{name}: .env.example's values differ from the compose defaults"
        );
        assert_eq!(
            published_ports(s, &no_vars()),
            published_ports(s, &documented),
            "{name}: .env.example's values change the published ports"
        );
    }

    // web and db agree on the database credentials, with or without a .env.
    let web = environment(service(&compose, "web"), &no_vars());
    let db = environment(service(&compose, "db"), &no_vars());
    for key in ["POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"] {
        assert_eq!(web.get(key), db.get(key), "web and db disagree on {key}");
    }
    assert_eq!(web["POSTGRES_HOST"], "db");
    assert_eq!(web["REDIS_HOST"], "cache");
}

#[test]
fn compose_logs_with_the_binarys_default_filter() {
    let web = environment(service(&compose(), "web"), &no_vars());
    assert_eq!(
        web.get("RUST_LOG").map(String::as_str),
        Some(useradmin::telemetry::DEFAULT_FILTER),
        "compose's RUST_LOG default differs from the binary's (src/telemetry.rs)"
    );
}

/// The words of a compose service's `command:` (list form), substituted.
fn compose_command(name: &str, service: &Mapping, vars: &BTreeMap<String, String>) -> Vec<String> {
    service
        .get("command")
        .and_then(Value::as_sequence)
        .unwrap_or_else(|| panic!("{name}: command: in list form"))
        .iter()
        .map(|word| scalar(word, vars).unwrap_or_else(|| panic!("{name}: command word {word:?}")))
        .collect()
}

#[test]
fn compose_gives_adminer_a_database_role_of_its_own() {
    let compose = compose();
    let operator = service(&compose, "sql-operator");
    let (repository, tag) = image_tag("sql-operator", operator);
    assert_eq!(
        (repository, tag),
        image_tag("db", service(&compose, "db")),
        "sql-operator runs psql from the db image"
    );
    assert_eq!(
        operator.get("restart").and_then(Value::as_str),
        Some("no"),
        "a one-shot step must not be restarted"
    );
    assert_eq!(
        operator["depends_on"]["web"]["condition"].as_str(),
        Some("service_healthy"),
        "it runs after web has applied the migrations"
    );
    assert_eq!(
        service(&compose, "adminer")["depends_on"]["sql-operator"]["condition"].as_str(),
        Some("service_completed_successfully"),
        "Adminer starts once its role exists"
    );
    let mounts: Vec<String> = operator["volumes"]
        .as_sequence()
        .expect("sql-operator mounts the script")
        .iter()
        .filter_map(|m| m.as_str().map(|m| interpolate(m, &no_vars())))
        .collect();
    let script = mounts
        .iter()
        .find_map(|m| m.strip_prefix("./"))
        .and_then(|m| m.split(':').next())
        .expect("the script is bind-mounted from the repository");
    assert_eq!(script, "deploy/kubernetes/sql-operator-role.sql");
    let command = compose_command("sql-operator", operator, &no_vars()).join(" ");
    assert!(
        command.contains("psql") && command.contains("-f /sql-operator-role.sql"),
        "{command}"
    );
    assert!(command.contains("ON_ERROR_STOP=1"), "{command}");

    // As the service's role, for another role: never the same one.
    let documented = env_example_values();
    let web = environment(service(&compose, "web"), &no_vars());
    for vars in [no_vars(), documented] {
        let env = environment(operator, &vars);
        assert_eq!(env["PGHOST"], "db");
        assert_eq!(
            env["PGUSER"],
            environment(service(&compose, "web"), &vars)["POSTGRES_USER"]
        );
        assert_eq!(env["PGDATABASE"], web["POSTGRES_DB"]);
        assert_ne!(
            env["OPERATOR_ROLE"], env["PGUSER"],
            "Adminer's role must not be the service's own"
        );
        assert!(!env["OPERATOR_PASSWORD"].is_empty());
    }

    // The script grants what a raw-SQL console needs and keeps the trail read-only.
    let sql = read(script);
    for promise in [
        "grant select, insert, update, delete on all tables",
        "alter default privileges",
        "revoke insert, update, delete, truncate, references, trigger on",
        "'audit_events'",
        "nosuperuser",
        "must not be the service''s own role",
        "is a member of the service''s role",
    ] {
        assert!(sql.contains(promise), "sql-operator-role.sql: {promise:?}");
    }
}

#[test]
fn compose_caps_redis_memory_and_evicts_the_cache_before_sessions() {
    let compose = compose();
    let cache = service(&compose, "cache");
    for vars in [no_vars(), env_example_values()] {
        let words = compose_command("cache", cache, &vars);
        assert_eq!(words[0], "redis-server");
        let option = |name: &str| -> String {
            let at = words
                .iter()
                .position(|w| w == name)
                .unwrap_or_else(|| panic!("cache: no {name} in {words:?}"));
            words[at + 1].clone()
        };
        let maxmemory = redis_bytes(&option("--maxmemory"));
        assert!(
            maxmemory >= 64 << 20,
            "cache: maxmemory {maxmemory} is set and not tiny"
        );
        assert_eq!(option("--maxmemory-policy"), "volatile-ttl");
        assert!(option("--maxmemory-samples").parse::<u32>().unwrap() >= 5);

        // volatile-ttl evicts the keys closest to expiring first: the cached
        // pages only go first while their TTL is the shorter one.
        let web = environment(service(&compose, "web"), &vars);
        let cache_ttl: u64 = web["CACHE_TTL_SECONDS"].parse().unwrap();
        let idle: u64 = web["SESSION_IDLE_MINUTES"].parse().unwrap();
        assert!(
            cache_ttl < idle * 60,
            "cache pages ({cache_ttl} s) must expire before idle sessions ({idle} min)"
        );
    }
    let defaults = useradmin::config::Settings::from_lookup(|_| None).expect("the defaults");
    assert!(defaults.cache_ttl < defaults.session_idle);
}

/// `256mb`, `1gb`, `1000000` as Redis reads a memory size, in bytes.
fn redis_bytes(text: &str) -> u64 {
    let text = text.to_ascii_lowercase();
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    let number: u64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("memory size {text:?}"));
    let unit = match &text[digits.len()..] {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1 << 20,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1 << 30,
        other => panic!("memory unit {other:?}"),
    };
    number * unit
}

/// The active `KEY=value` lines of .env.example.
fn env_example_values() -> BTreeMap<String, String> {
    read(".env.example")
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// Every `REPOSITORY:TAG` that `text` names for one of `repositories`, with the
/// line it is on. `postgres://…` and the like are URLs, not tags.
fn image_references<'a>(text: &str, repositories: &[&'a str]) -> Vec<(&'a str, String, usize)> {
    let tag_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for repository in repositories {
            let needle = format!("{repository}:");
            for (at, _) in line.match_indices(&needle) {
                let before = line[..at].chars().next_back();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')) {
                    continue;
                }
                let tag: String = line[at + needle.len()..]
                    .chars()
                    .take_while(|c| tag_char(*c))
                    .collect();
                let tag = tag.trim_end_matches(['.', '-']);
                if tag.starts_with(|c: char| c.is_ascii_alphanumeric()) {
                    found.push((*repository, tag.to_owned(), number + 1));
                }
            }
        }
    }
    found
}

#[test]
fn the_docs_name_the_image_tags_that_compose_runs() {
    let compose = compose();
    let mut tags = BTreeMap::new();
    for name in ["db", "cache", "adminer"] {
        let (repository, tag) = image_tag(name, service(&compose, name));
        let repository = repository.rsplit('/').next().unwrap_or_default().to_owned();
        tags.insert(repository, tag);
    }
    let repositories: Vec<&str> = tags.keys().map(String::as_str).collect();
    for file in ["docs/DEPLOYMENT.md", "README.md"] {
        for (repository, tag, line) in image_references(&read(file), &repositories) {
            assert_eq!(
                tag, tags[repository],
                "{file}:{line} names {repository}:{tag}, docker-compose.yml runs {repository}:{}",
                tags[repository]
            );
        }
    }
    let named = image_references(&read("docs/DEPLOYMENT.md"), &repositories);
    for repository in &repositories {
        assert!(
            named.iter().any(|(r, _, _)| r == repository),
            "docs/DEPLOYMENT.md does not name the {repository} image compose runs"
        );
    }
}

#[test]
fn image_references_are_told_from_urls_and_other_words() {
    let text = "`postgres:17-bookworm`, postgres://u@h:5432/db, my-redis:1, redis:7.\n\
                POSTGRES_DB, docker.io/library/adminer:5 and redis: none";
    assert_eq!(
        image_references(text, &["postgres", "redis", "adminer"]),
        [
            ("postgres", "17-bookworm".to_owned(), 1),
            ("redis", "7".to_owned(), 1),
            ("adminer", "5".to_owned(), 2),
        ]
    );
}

// ---------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------

struct Dockerfile {
    stages: usize,
    /// The final stage's instructions, continuation lines joined.
    final_stage: Vec<(String, String)>,
    exposed: Vec<String>,
}

impl Dockerfile {
    fn last(&self, instruction: &str) -> Option<&str> {
        self.final_stage
            .iter()
            .rev()
            .find(|(name, _)| name == instruction)
            .map(|(_, args)| args.as_str())
    }

    /// An exec-form (JSON array) argument list.
    fn exec_form(&self, instruction: &str) -> Vec<String> {
        let args = self
            .last(instruction)
            .unwrap_or_else(|| panic!("the final stage has no {instruction}"));
        json_array(args).unwrap_or_else(|| panic!("{instruction} {args} is not in exec form"))
    }

    /// What `docker run IMAGE` executes: ENTRYPOINT followed by CMD.
    fn command(&self) -> Vec<String> {
        let mut command = self.exec_form("ENTRYPOINT");
        command.extend(self.exec_form("CMD"));
        command
    }
}

fn json_array(text: &str) -> Option<Vec<String>> {
    let text = text.trim();
    if !text.starts_with('[') {
        return None;
    }
    // JSON arrays of strings are YAML flow sequences.
    serde_yaml_ng::from_str(text).ok()
}

fn dockerfile() -> Dockerfile {
    let text = read("Dockerfile");
    let mut instructions: Vec<(String, String)> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let (name, args) = pending
            .split_once(char::is_whitespace)
            .unwrap_or((&pending, ""));
        instructions.push((name.to_ascii_uppercase(), args.trim().to_owned()));
        pending.clear();
    }
    let stages = instructions
        .iter()
        .filter(|(name, _)| name == "FROM")
        .count();
    let start = instructions
        .iter()
        .rposition(|(name, _)| name == "FROM")
        .expect("the Dockerfile has a FROM");
    let final_stage = instructions[start..].to_vec();
    let exposed = final_stage
        .iter()
        .filter(|(name, _)| name == "EXPOSE")
        .flat_map(|(_, args)| {
            args.split_whitespace()
                .map(|p| p.split('/').next().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    Dockerfile {
        stages,
        final_stage,
        exposed,
    }
}

/// `useradmin <words> --help` exits 0 only when the subcommand exists.
fn assert_subcommand_exists(words: &[String]) {
    let output = std::process::Command::new(BIN)
        .args(words)
        .arg("--help")
        .env_clear()
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "`useradmin {} --help` failed ({}): the binary has no such command\n{}",
        words.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_subcommand_check_tells_real_commands_from_missing_ones() {
    let output = std::process::Command::new(BIN)
        .args(["no-such-command", "--help"])
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
}

#[test]
fn dockerfile_is_multi_stage_and_runs_as_a_non_root_user() {
    let dockerfile = dockerfile();
    assert!(
        dockerfile.stages >= 2,
        "multi-stage: {} FROM",
        dockerfile.stages
    );
    let user = dockerfile.last("USER").expect("the final stage sets USER");
    let name = user.split(':').next().unwrap_or_default();
    assert!(
        !matches!(name, "root" | "0" | ""),
        "the final stage runs as root ({user})"
    );
    assert!(
        name.chars().all(|c| c.is_ascii_digit()),
        "USER {user}: a numeric user lets Kubernetes' runAsNonRoot verify it"
    );
    assert_eq!(
        dockerfile.last("WORKDIR"),
        Some("/app"),
        "static/ is served from the working directory"
    );
    assert!(
        dockerfile
            .final_stage
            .iter()
            .any(|(name, args)| name == "COPY" && args.trim_end().ends_with("/app/static")),
        "the final stage copies static/ to /app/static"
    );
    assert!(
        dockerfile.exposed.iter().any(|p| p == "5000"),
        "EXPOSE 5000"
    );
    assert_eq!(dockerfile.last("STOPSIGNAL"), Some("SIGTERM"));

    let ignore = read(".dockerignore");
    let ignored: Vec<&str> = ignore.lines().map(str::trim).collect();
    for entry in ["target/", ".git/", ".env"] {
        assert!(
            ignored.contains(&entry),
            ".dockerignore must exclude {entry}"
        );
    }
}

#[test]
fn dockerfile_entrypoint_and_healthcheck_run_commands_that_exist() {
    let dockerfile = dockerfile();
    let entrypoint = dockerfile.exec_form("ENTRYPOINT");
    assert_eq!(entrypoint, ["useradmin"], "exec-form ENTRYPOINT");
    let command = dockerfile.command();
    assert_eq!(command, ["useradmin", "serve"]);
    assert_subcommand_exists(&command[1..]);

    let healthcheck = dockerfile.last("HEALTHCHECK").expect("a HEALTHCHECK");
    let (_, exec) = healthcheck
        .split_once("CMD ")
        .unwrap_or_else(|| panic!("HEALTHCHECK {healthcheck} has no CMD"));
    let words = json_array(exec).expect("HEALTHCHECK CMD in exec form (no shell needed)");
    assert_eq!(words[..2], ["useradmin", "healthcheck"]);
    assert_subcommand_exists(&words[1..]);
}

// ---------------------------------------------------------------------------------
// Kubernetes manifests
// ---------------------------------------------------------------------------------

fn kubernetes_documents() -> Vec<(String, Value)> {
    let dir = root().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    let mut documents = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable manifest");
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{file} is not valid YAML: {e}"));
            if !value.is_null() {
                documents.push((file.clone(), value));
            }
        }
    }
    documents
}

fn find_kind<'a>(documents: &'a [(String, Value)], kind: &str) -> &'a Value {
    documents
        .iter()
        .find(|(_, doc)| doc["kind"].as_str() == Some(kind))
        .map(|(_, doc)| doc)
        .unwrap_or_else(|| panic!("deploy/kubernetes has no {kind}"))
}

fn selects(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_mapping().expect("a selector");
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn secret_names(container: &Value) -> Vec<String> {
    container["envFrom"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|source| source["secretRef"]["name"].as_str().map(str::to_owned))
        .collect()
}

fn assert_hardened(what: &str, pod: &Value, container: &Value) {
    let pod_non_root = pod["securityContext"]["runAsNonRoot"].as_bool() == Some(true);
    let container_non_root = container["securityContext"]["runAsNonRoot"].as_bool() == Some(true);
    assert!(pod_non_root || container_non_root, "{what}: runAsNonRoot");
    let security = &container["securityContext"];
    assert_eq!(
        security["allowPrivilegeEscalation"].as_bool(),
        Some(false),
        "{what}"
    );
    assert_eq!(
        security["readOnlyRootFilesystem"].as_bool(),
        Some(true),
        "{what}"
    );
    let dropped: Vec<&str> = security["capabilities"]["drop"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(dropped.contains(&"ALL"), "{what}: drop ALL capabilities");
    for kind in ["requests", "limits"] {
        assert!(
            container["resources"][kind]["memory"].as_str().is_some(),
            "{what}: resources.{kind}.memory"
        );
    }
}

fn container_command(container: &Value) -> Vec<String> {
    let words = |key: &str| -> Vec<String> {
        container[key]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let command = words("command");
    let mut full = if command.is_empty() {
        dockerfile().exec_form("ENTRYPOINT")
    } else {
        command
    };
    full.extend(words("args"));
    full
}

#[test]
fn kubernetes_manifests_run_several_hardened_instances() {
    let documents = kubernetes_documents();
    let deployment = find_kind(&documents, "Deployment");
    let replicas = deployment["spec"]["replicas"].as_u64().expect("replicas");
    assert!(replicas >= 2, "at least 2 replicas, not {replicas}");
    let pod = &deployment["spec"]["template"]["spec"];
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert!(selects(
        &deployment["spec"]["selector"]["matchLabels"],
        labels
    ));
    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds");
    assert!(
        Duration::from_secs(grace) > useradmin::startup::DRAIN_LIMIT,
        "the pod's grace period ({grace} s) must exceed the drain limit"
    );
    let container = &pod["containers"][0];
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/health")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/health/live")
    );
    assert_hardened("Deployment", pod, container);
    let command = container_command(container);
    assert_eq!(command[0], "useradmin");
    assert_subcommand_exists(&command[1..]);
    let secrets = secret_names(container);
    assert!(
        !secrets.is_empty(),
        "the Deployment reads its secrets from a Secret"
    );

    let service = find_kind(&documents, "Service");
    assert!(
        selects(&service["spec"]["selector"], labels),
        "the Service selects the pods"
    );

    let budget = find_kind(&documents, "PodDisruptionBudget");
    assert!(selects(&budget["spec"]["selector"]["matchLabels"], labels));
    let min_available = budget["spec"]["minAvailable"].as_u64();
    assert!(
        min_available.is_some_and(|n| n >= 1 && n < replicas),
        "minAvailable {min_available:?}: at least one pod stays, and a drain can proceed"
    );

    let job = find_named(&documents, "Job", "useradmin-migrate");
    let job_pod = &job["spec"]["template"]["spec"];
    let migrate = &job_pod["containers"][0];
    let command = container_command(migrate);
    assert_eq!(command, ["useradmin", "migrate"]);
    assert_subcommand_exists(&command[1..]);
    assert_hardened("migration Job", job_pod, migrate);
    assert_eq!(
        secret_names(migrate),
        secrets,
        "the Job reads the same Secret"
    );

    let secret = find_kind(&documents, "Secret");
    assert!(
        secrets
            .iter()
            .any(|name| secret["metadata"]["name"].as_str() == Some(name))
    );
    for key in ["DATABASE_URL", "REDIS_URL"] {
        let value = secret["stringData"][key].as_str().unwrap_or_default();
        assert!(
            value.contains("CHANGE-ME"),
            "secret.example.yaml: {key} is a placeholder"
        );
    }

    // Every file the kustomization lists exists; the example Secret is not applied.
    let kustomization = &documents
        .iter()
        .find(|(file, _)| file == "kustomization.yaml")
        .expect("kustomization.yaml")
        .1;
    let resources: Vec<&str> = kustomization["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for resource in &resources {
        assert!(
            root().join("deploy/kubernetes").join(resource).is_file(),
            "{resource}"
        );
    }
    assert!(!resources.contains(&"secret.example.yaml"));
}

fn find_named<'a>(documents: &'a [(String, Value)], kind: &str, name: &str) -> &'a Value {
    documents
        .iter()
        .find(|(_, doc)| {
            doc["kind"].as_str() == Some(kind) && doc["metadata"]["name"].as_str() == Some(name)
        })
        .map(|(_, doc)| doc)
        .unwrap_or_else(|| panic!("deploy/kubernetes has no {kind} {name}"))
}

#[test]
fn kubernetes_gives_the_raw_sql_operator_a_role_of_its_own() {
    let documents = kubernetes_documents();
    let job = find_named(&documents, "Job", "useradmin-sql-operator");
    let pod = &job["spec"]["template"]["spec"];
    // Migrations first, so the grants see every table.
    let init = &pod["initContainers"][0];
    let command = container_command(init);
    assert_eq!(command, ["useradmin", "migrate"]);
    assert_subcommand_exists(&command[1..]);
    assert_eq!(secret_names(init), ["useradmin"]);
    let psql = &pod["containers"][0];
    assert_hardened("sql-operator Job", pod, psql);
    let words: Vec<&str> = psql["command"]
        .as_sequence()
        .into_iter()
        .chain(psql["args"].as_sequence())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(words[0], "psql");
    assert!(words.contains(&"ON_ERROR_STOP=1"), "{words:?}");
    let script = words
        .iter()
        .position(|w| *w == "-f")
        .map(|at| words[at + 1])
        .expect("psql -f SCRIPT");
    let mount = psql["volumeMounts"][0]["mountPath"].as_str().unwrap();
    let file = script
        .strip_prefix(&format!("{mount}/"))
        .expect("the script comes from the mounted ConfigMap");
    assert_eq!(file, "sql-operator-role.sql", "the file compose runs too");
    let map_name = pod["volumes"][0]["configMap"]["name"].as_str().unwrap();
    let kustomization = &documents
        .iter()
        .find(|(file, _)| file == "kustomization.yaml")
        .expect("kustomization.yaml")
        .1;
    let generated = kustomization["configMapGenerator"]
        .as_sequence()
        .expect("configMapGenerator")
        .iter()
        .find(|g| g["name"].as_str() == Some(map_name))
        .unwrap_or_else(|| panic!("no configMapGenerator makes {map_name}"));
    assert_eq!(generated["files"][0].as_str(), Some(file));
    assert!(root().join("deploy/kubernetes").join(file).is_file());

    // Its role and password from a Secret of its own (not the one the web pods
    // load whole), and never the service's own role.
    let env = psql["env"].as_sequence().expect("env");
    let from = |var: &str| -> (String, String) {
        let reference = &env
            .iter()
            .find(|e| e["name"].as_str() == Some(var))
            .unwrap_or_else(|| panic!("no {var}"))["valueFrom"]["secretKeyRef"];
        (
            reference["name"].as_str().unwrap().to_owned(),
            reference["key"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(from("DATABASE_URL").0, "useradmin");
    let (secret_name, role_key) = from("SQL_OPERATOR_ROLE");
    assert_ne!(secret_name, "useradmin");
    let example = find_named(&documents, "Secret", &secret_name);
    let role = example["stringData"][role_key.as_str()].as_str().unwrap();
    let service_url = find_named(&documents, "Secret", "useradmin")["stringData"]["DATABASE_URL"]
        .as_str()
        .unwrap();
    let service_role = url::Url::parse(service_url).unwrap().username().to_owned();
    assert_ne!(role, service_role);
    let (_, password_key) = from("SQL_OPERATOR_PASSWORD");
    assert!(
        example["stringData"][password_key.as_str()]
            .as_str()
            .unwrap()
            .contains("CHANGE-ME")
    );
}

#[test]
fn kubernetes_records_the_redis_memory_settings() {
    let documents = kubernetes_documents();
    let config = find_named(&documents, "ConfigMap", "useradmin-redis");
    let conf = config["data"]["redis.conf"].as_str().expect("redis.conf");
    let setting = |name: &str| -> String {
        conf.lines()
            .find_map(|line| line.trim().strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("redis.conf has no {name}"))
            .trim()
            .to_owned()
    };
    assert!(redis_bytes(&setting("maxmemory")) >= 64 << 20);
    assert_eq!(setting("maxmemory-policy"), "volatile-ttl");
    // The same as compose's cache service.
    let compose = compose();
    let words = compose_command("cache", service(&compose, "cache"), &no_vars());
    assert!(
        words
            .windows(2)
            .any(|w| w == ["--maxmemory-policy", "volatile-ttl"])
    );
    let kustomization = &documents
        .iter()
        .find(|(file, _)| file == "kustomization.yaml")
        .expect("kustomization.yaml")
        .1;
    assert!(
        kustomization["resources"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|r| r.as_str() == Some("redis-config.yaml"))
    );
    // The web tier's cache pages expire before its sessions go idle.
    let deployment = find_kind(&documents, "Deployment");
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_sequence()
        .unwrap();
    let value = |name: &str| {
        env.iter()
            .find(|e| e["name"].as_str() == Some(name))
            .and_then(|e| e["value"].as_str())
    };
    let cache_ttl: u64 = value("CACHE_TTL_SECONDS").map_or(300, |v| v.parse().unwrap());
    let idle: u64 = value("SESSION_IDLE_MINUTES").map_or(30, |v| v.parse().unwrap());
    assert!(cache_ttl < idle * 60);
}

// ---------------------------------------------------------------------------------
// Running instances
// ---------------------------------------------------------------------------------

fn random_suffix() -> String {
    let a = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    // The owner first, so that a sweep can tell a finished run's leftovers from a
    // live one's (scripts/test).
    format!("{}_{a:016x}", useradmin_test_support::owner_tag())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .expect("local address")
        .port()
}

/// Where the local PostgreSQL and Redis are: `DATABASE_URL` / `REDIS_URL` when set
/// (as the API tests read them), else the machine's defaults.
struct LocalServices {
    pg_host: String,
    pg_port: u16,
    pg_user: String,
    pg_password: Option<String>,
    redis_host: String,
    redis_port: u16,
    /// Set when Redis needs more than a host and port (credentials, TLS, database).
    redis_url: Option<String>,
}

impl LocalServices {
    fn from_env() -> Self {
        let database = std::env::var("DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .map(|url| reqwest::Url::parse(&url).expect("DATABASE_URL is a URL"));
        let redis = std::env::var("REDIS_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .map(|url| reqwest::Url::parse(&url).expect("REDIS_URL is a URL"));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        Self {
            pg_host: database
                .as_ref()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "127.0.0.1".into()),
            pg_port: database.as_ref().and_then(|u| u.port()).unwrap_or(5432),
            pg_user: database
                .as_ref()
                .map(|u| decode(u.username()))
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "postgres".into()),
            pg_password: database.as_ref().and_then(|u| u.password()).map(decode),
            redis_host: redis
                .as_ref()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "127.0.0.1".into()),
            redis_port: redis.as_ref().and_then(|u| u.port()).unwrap_or(6379),
            redis_url: redis
                .filter(|u| {
                    u.scheme() != "redis" || !u.username().is_empty() || u.password().is_some()
                })
                .map(|u| u.to_string()),
        }
    }

    /// The URL of one database on the local PostgreSQL.
    fn url_of(&self, database: &str) -> String {
        let mut url = reqwest::Url::parse("postgres://localhost/").unwrap();
        url.set_host(Some(&self.pg_host)).unwrap();
        url.set_port(Some(self.pg_port)).unwrap();
        url.set_username(&self.pg_user).unwrap();
        if let Some(password) = &self.pg_password {
            url.set_password(Some(password)).unwrap();
        }
        url.set_path(database);
        url.to_string()
    }
}

/// One instance of the service, started the way compose starts `web`.
struct Instance {
    child: Child,
    env: BTreeMap<String, String>,
    port: u16,
    log: PathBuf,
    database: String,
    services: LocalServices,
}

impl Instance {
    /// The environment compose gives `web` on a fresh clone, with the service hosts
    /// mapped to the local services and the shared resources (database, Redis key
    /// prefix, port) made unique to this instance.
    fn compose_environment(
        services: &LocalServices,
        port: u16,
        suffix: &str,
    ) -> BTreeMap<String, String> {
        let compose = compose();
        let mut env = environment(service(&compose, "web"), &no_vars());
        let mut map = |key: &str, expected: Option<&str>, value: String| {
            let old = env
                .get(key)
                .unwrap_or_else(|| panic!("compose gives web no {key}"));
            if let Some(expected) = expected {
                assert_eq!(old, expected, "web's {key}");
            }
            env.insert(key.to_owned(), value);
        };
        map("POSTGRES_HOST", Some("db"), services.pg_host.clone());
        map("POSTGRES_PORT", Some("5432"), services.pg_port.to_string());
        map("POSTGRES_USER", None, services.pg_user.clone());
        if let Some(password) = &services.pg_password {
            map("POSTGRES_PASSWORD", None, password.clone());
        }
        map("POSTGRES_DB", None, format!("ua_deploy_{suffix}"));
        map("REDIS_HOST", Some("cache"), services.redis_host.clone());
        map("REDIS_PORT", Some("6379"), services.redis_port.to_string());
        map("REDIS_KEY_PREFIX", None, format!("ua_deploy_{suffix}:"));
        map("PORT", Some("5000"), port.to_string());
        map("BIND", None, "127.0.0.1".into());
        map(
            "METRICS_BIND",
            Some("0.0.0.0:9100"),
            format!("127.0.0.1:{}", free_port()),
        );
        if let Some(url) = &services.redis_url {
            env.insert("REDIS_URL".into(), url.clone());
        }
        env
    }

    /// Starts `useradmin serve` (the image's ENTRYPOINT + CMD) with `env` and
    /// nothing else.
    async fn start(adjust: impl FnOnce(&mut BTreeMap<String, String>)) -> Self {
        let services = LocalServices::from_env();
        let suffix = random_suffix();
        let port = free_port();
        let mut env = Self::compose_environment(&services, port, &suffix);
        adjust(&mut env);
        let log =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("deployment_{suffix}.log"));
        let log_file = std::fs::File::create(&log).expect("create the log file");
        let command = dockerfile().command();
        let child = Command::new(BIN)
            .args(&command[1..])
            .env_clear()
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone the log file"))
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn useradmin serve");
        Self {
            child,
            database: env["POSTGRES_DB"].clone(),
            env,
            port,
            log,
            services,
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn fail(&self, message: &str) -> ! {
        panic!("{message}\n--- instance log ---\n{}", self.logs())
    }

    /// `useradmin healthcheck` as the container healthcheck runs it: inside the
    /// container, with the container's environment, no arguments.
    async fn healthcheck(&self) -> ExitStatus {
        healthcheck(&[], &self.env).await
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("poll the child")
    }

    async fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                self.fail(&format!("useradmin serve exited early: {status}"));
            }
            if self.healthcheck().await.success() {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!("not healthy within {START_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn wait_until_live(&mut self) {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{}/health/live", self.port);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                self.fail(&format!("useradmin serve exited early: {status}"));
            }
            if let Ok(response) = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && response.status() == 200
            {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "/health/live did not answer 200 within {START_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Sends SIGTERM (what `docker compose stop` and Kubernetes send) and waits.
    async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().expect("the child is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}");
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => status.expect("wait for the child"),
            Err(_) => self.fail(&format!("still running {STOP_TIMEOUT:?} after SIGTERM")),
        }
    }

    /// Removes the log; dropping removes the rest.
    async fn cleanup(self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Stops the instance and removes its database and Redis keys, also when a test
/// panics half-way.
impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let redis_url = self.services.redis_url.clone().unwrap_or_else(|| {
            format!(
                "redis://{}:{}/0",
                self.services.redis_host, self.services.redis_port
            )
        });
        let prefix = self
            .env
            .get("REDIS_KEY_PREFIX")
            .cloned()
            .unwrap_or_default();
        useradmin_test_support::remove_test_data(
            &redis_url,
            &self.services.url_of(&self.database),
            &prefix,
        );
    }
}

async fn healthcheck(args: &[&str], env: &BTreeMap<String, String>) -> ExitStatus {
    let mut command = Command::new(BIN);
    command
        .arg("healthcheck")
        .args(args)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(15), command.status())
        .await
        .expect("useradmin healthcheck answers within its own timeout")
        .expect("run useradmin healthcheck")
}

#[tokio::test]
async fn healthcheck_fails_when_nothing_listens() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/health");
    let status = healthcheck(&["--url", &url], &no_vars()).await;
    assert!(!status.success(), "healthcheck --url {url}: {status}");

    let env = BTreeMap::from([("PORT".to_owned(), port.to_string())]);
    let status = healthcheck(&[], &env).await;
    assert!(!status.success(), "healthcheck with PORT={port}: {status}");
}

#[tokio::test]
async fn an_instance_started_with_the_compose_environment_is_healthy_and_stops_cleanly_on_sigterm()
{
    let mut instance = Instance::start(|_| {}).await;
    instance.wait_until_healthy().await;

    let url = format!("http://127.0.0.1:{}/health", instance.port);
    let status = healthcheck(&["--url", &url], &no_vars()).await;
    assert!(status.success(), "healthcheck --url {url}: {status}");

    let status = instance.terminate().await;
    if !status.success() {
        instance.fail(&format!(
            "SIGTERM must end the process with exit 0, not {status}"
        ));
    }

    // Stopped: the same healthcheck now fails.
    let status = instance.healthcheck().await;
    assert!(
        !status.success(),
        "healthcheck of a stopped instance: {status}"
    );
    instance.cleanup().await;
}

#[tokio::test]
async fn an_instance_whose_redis_is_down_is_live_but_not_healthy() {
    let closed = free_port();
    let mut instance = Instance::start(|env| {
        env.insert("REDIS_URL".into(), format!("redis://127.0.0.1:{closed}/0"));
    })
    .await;
    instance.wait_until_live().await;

    let status = instance.healthcheck().await;
    if status.success() {
        instance.fail("healthcheck must fail while Redis is unreachable");
    }
    let response = reqwest::get(format!("http://127.0.0.1:{}/health", instance.port))
        .await
        .expect("GET /health");
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("a JSON body");
    assert_eq!(body["status"], "unhealthy", "{body}");

    let status = instance.terminate().await;
    if !status.success() {
        instance.fail(&format!(
            "SIGTERM must end the process with exit 0, not {status}"
        ));
    }
    instance.cleanup().await;
}

#[test]
fn compose_durations_and_substitution_follow_compose() {
    assert_eq!(duration("15s"), Duration::from_secs(15));
    assert_eq!(duration("1m30s"), Duration::from_secs(90));
    assert_eq!(duration("500ms"), Duration::from_millis(500));
    let vars = BTreeMap::from([
        ("SET".to_owned(), "x".to_owned()),
        ("EMPTY".to_owned(), String::new()),
    ]);
    assert_eq!(interpolate("${UNSET:-d}", &vars), "d");
    assert_eq!(interpolate("${EMPTY:-d}", &vars), "d");
    assert_eq!(interpolate("${EMPTY-d}", &vars), "");
    assert_eq!(interpolate("${SET:-d}", &vars), "x");
    assert_eq!(interpolate("$SET/$$SET/${UNSET}", &vars), "x/$SET/");
    assert_eq!(interpolate("${UNSET:-${SET}}:5000", &vars), "x:5000");
    assert_eq!(interpolate("${SET:+y}${UNSET:+y}", &vars), "y");
    let mut names = BTreeSet::new();
    referenced_variables("${A:-1}:$B:$${C}", &mut names);
    assert_eq!(names, BTreeSet::from(["A".to_owned(), "B".to_owned()]));
}
