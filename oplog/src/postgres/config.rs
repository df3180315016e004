//! Opening options of the PostgreSQL store and its connection string:
//! parsing (URL `postgres://USER@HOST:PORT/DB` or libpq's `key=value` form),
//! the checks that turn a vague driver error into one naming what is
//! missing, the `user@host:port/db` text errors show, and the redaction that
//! keeps a password out of every message.

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::Host;

use crate::error::{Error, Result};
use crate::store::StoreOptions;

/// Settings of a [`PostgresOplogStore`](super::PostgresOplogStore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Payload threshold shared with the other stores.
    /// [`StoreOptions::verify_on_open`] does not apply: the database keeps
    /// its own consistency (WAL recovery), and records are CRC-checked on
    /// every read instead of in a walk at open.
    pub store: StoreOptions,
    /// Most connections the store keeps open at once (default 8).
    pub max_connections: usize,
    /// Connect timeout used when the connection string sets none
    /// (default 10 s).
    pub connect_timeout: Duration,
    /// How long an operation waits for a free connection before failing
    /// with [`Error::PostgresPoolTimeout`] (default 30 s).
    pub acquire_timeout: Duration,
    /// How long a statement (or a claim's transaction) may take before it
    /// fails with [`Error::PostgresTimeout`], is cancelled on the server
    /// and its connection is dropped (default 30 s).
    pub statement_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            store: StoreOptions::default(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

impl PostgresOptions {
    /// Checks the options are in range.
    pub fn validate(&self) -> Result<()> {
        self.store.validate()?;
        if self.max_connections == 0 || self.max_connections > 1024 {
            return Err(Error::InvalidOptions {
                reason: format!(
                    "max_connections must be between 1 and 1024, not {}",
                    self.max_connections
                ),
            });
        }
        if self.connect_timeout.is_zero()
            || self.acquire_timeout.is_zero()
            || self.statement_timeout.is_zero()
        {
            return Err(Error::InvalidOptions {
                reason: "connect_timeout, acquire_timeout and statement_timeout must be positive"
                    .into(),
            });
        }
        Ok(())
    }
}

/// A parsed connection string and the text naming its server in messages.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) config: tokio_postgres::Config,
    /// `user@host:port/database`, never with a password.
    pub(crate) display: String,
}

/// Parses `input` and checks that it names a user, a host and a database.
pub(crate) fn parse(input: &str, options: &PostgresOptions) -> Result<Target> {
    let invalid = |reason: String| Error::PostgresConfig {
        input: redact(input),
        reason,
    };
    if input.trim().is_empty() {
        return Err(invalid(
            "it is empty; expected postgres://USER@HOST:PORT/DATABASE".into(),
        ));
    }
    let mut config = tokio_postgres::Config::from_str(input).map_err(|e| {
        invalid(format!(
            "{}; expected postgres://USER@HOST:PORT/DATABASE",
            error_chain(&e)
        ))
    })?;
    let Some(user) = config.get_user().map(str::to_owned) else {
        return Err(invalid(
            "it names no user; write postgres://USER@HOST:PORT/DATABASE".into(),
        ));
    };
    if config.get_hosts().is_empty() {
        return Err(invalid(
            "it names no host; write postgres://USER@HOST:PORT/DATABASE".into(),
        ));
    }
    let Some(dbname) = config.get_dbname().map(str::to_owned) else {
        return Err(invalid(
            "it names no database; write postgres://USER@HOST:PORT/DATABASE".into(),
        ));
    };
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("reprise-oplog");
    }
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let display = format!("{user}@{}/{dbname}", hosts.join(","));
    Ok(Target { config, display })
}

/// The driver's error followed by each of its causes (`tokio_postgres`
/// prints only "db error" for a server error, the server's message is the
/// cause), plus the server's SQLSTATE when there is one.
pub(crate) fn error_chain(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    // A chain is a handful of links; the bound only guards against a cycle.
    for _ in 0..16 {
        let Some(c) = cause else { break };
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    if let Some(db) = error.as_db_error() {
        text.push_str(&format!(" (SQLSTATE {})", db.code().code()));
    }
    text
}

/// `input` with any password replaced by `***`, in both the URL form
/// (`postgres://user:secret@host`) and the `key=value` form
/// (`password=secret`).
pub(crate) fn redact(input: &str) -> String {
    if let Some(scheme_end) = input.find("://") {
        let rest = &input[scheme_end + 3..];
        // The driver reads the credentials up to an `@` anywhere in the
        // string (a password may hold `/` or `?`): everything before the
        // last one is taken as the user info, which hides too much rather
        // than too little.
        if let Some(at) = rest.rfind('@') {
            let userinfo = &rest[..at];
            if let Some(colon) = userinfo.find(':') {
                let shown = format!(
                    "{}{}:***{}",
                    &input[..scheme_end + 3],
                    &userinfo[..colon],
                    &rest[at..]
                );
                return redact_key_value(&shown, &['&', '#']);
            }
        }
        // A password may also be a query parameter.
        return redact_key_value(input, &['&', '#']);
    }
    // Neither a URL nor `key=value`: `user:secret@host` typed without its
    // scheme still hides the secret.
    if !input.contains('=')
        && let Some(at) = input.rfind('@')
        && let Some(colon) = input[..at].find(':')
    {
        return format!("{}:***{}", &input[..colon], &input[at..]);
    }
    redact_key_value(input, &[])
}

/// Replaces the value of every `password` key (`password=v`, also with
/// spaces around the `=` as the driver allows; `sslpassword` too): up to
/// the next whitespace or one of `ends`, or a quoted value's closing quote.
fn redact_key_value(input: &str, ends: &[char]) -> String {
    const KEY: &str = "password";
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find(KEY) {
        let after_key = &rest[pos + KEY.len()..];
        let Some(value) = after_key.trim_start().strip_prefix('=') else {
            out.push_str(&rest[..pos + KEY.len()]);
            rest = after_key;
            continue;
        };
        let value = value.trim_start();
        out.push_str(&rest[..pos + KEY.len()]);
        out.push_str("=***");
        let end = match value.strip_prefix('\'') {
            // A quoted value (libpq's `password='a b'`, `\'` escapes a
            // quote) ends at its closing quote.
            Some(quoted) => {
                let mut escaped = false;
                quoted
                    .char_indices()
                    .find(|&(_, c)| {
                        let closes = c == '\'' && !escaped;
                        escaped = c == '\\' && !escaped;
                        closes
                    })
                    .map_or(value.len(), |(i, _)| i + 2)
            }
            None => value
                .find(|c: char| c.is_whitespace() || ends.contains(&c))
                .unwrap_or(value.len()),
        };
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(input: &str) -> String {
        match parse(input, &PostgresOptions::default()) {
            Err(Error::PostgresConfig { reason, .. }) => reason,
            other => panic!("expected PostgresConfig for {input:?}, got {other:?}"),
        }
    }

    #[test]
    fn a_full_url_parses_and_names_its_target() {
        let t = parse(
            "postgres://reprise:secret@127.0.0.1:5433/oplog",
            &PostgresOptions::default(),
        )
        .unwrap();
        assert_eq!(t.display, "reprise@127.0.0.1:5433/oplog");
        assert_eq!(
            t.config.get_connect_timeout(),
            Some(&Duration::from_secs(10))
        );
        let t = parse(
            "host=localhost user=u dbname=d connect_timeout=3",
            &PostgresOptions::default(),
        )
        .unwrap();
        assert_eq!(t.display, "u@localhost:5432/d");
        assert_eq!(
            t.config.get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
    }

    #[test]
    fn missing_parts_are_named() {
        assert!(reason("").contains("empty"));
        assert!(reason("postgres://127.0.0.1/db").contains("no user"));
        assert!(reason("user=u dbname=d").contains("no host"));
        assert!(reason("postgres://u@127.0.0.1:5432").contains("no database"));
        let bad = reason("postgres://u@127.0.0.1:notaport/db");
        assert!(bad.contains("invalid connection string"), "{bad}");
        assert!(reason("mysql://u@h/d").contains("expected postgres://"));
    }

    #[test]
    fn passwords_never_appear_in_errors() {
        assert_eq!(
            redact("postgres://u:hunter2@h:1/d"),
            "postgres://u:***@h:1/d"
        );
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(redact("u:sekrit@127.0.0.1"), "u:***@127.0.0.1");
        assert_eq!(
            redact("host=h password='sek rit' user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(redact(r"password='a\' b' user=u"), "password=*** user=u");
        assert_eq!(
            redact("host=h password=hunter2 user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(
            redact("postgres://u@h/d?password=hunter2&x=1"),
            "postgres://u@h/d?password=***&x=1"
        );
        let err = parse(
            "postgres://u:hunter2@h:badport/d",
            &PostgresOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("u:***@h"), "{err}");
        // Forms the driver accepts that the first redaction missed: a
        // password with `/` or `?` in a URL, spaces around `=`, `&` in a
        // key=value password.
        for (input, secret) in [
            ("postgres://u:hunter/2@h:badport/d", "hunter/2"),
            ("postgres://u:hunter/2@h", "hunter/2"),
            ("postgres://u:hun?ter2@h/d", "ter2"),
            ("host=h user=u password = hunter2", "hunter2"),
            ("host=h user=u password=hun&ter2", "ter2"),
        ] {
            let shown = redact(input);
            assert!(!shown.contains(secret), "{input} -> {shown}");
            if let Err(err) = parse(input, &PostgresOptions::default()) {
                let err = err.to_string();
                assert!(!err.contains(secret), "{input} -> {err}");
            }
        }
        assert_eq!(
            redact("host=h password = 'a b' user=u"),
            "host=h password=*** user=u"
        );
    }

    #[test]
    fn options_are_checked() {
        let mut o = PostgresOptions::default();
        assert!(o.validate().is_ok());
        o.max_connections = 0;
        assert!(o.validate().is_err());
    }
}
