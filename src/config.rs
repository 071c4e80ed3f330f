//! Layered configuration: embedded defaults → an optional TOML file (`--config`) → the
//! environment (`SANDBANK_*`) → command-line flags, each layer overriding the one before.
//! The README lists every setting.

use crate::cli::ServeArgs;
use jiff::SignedDuration;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The settings file: every key optional, spelled as the flag without the dashes' prefix
/// (`max-sandboxes = 50`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    host: Option<String>,
    port: Option<u16>,
    data_dir: Option<PathBuf>,
    scenario: Option<PathBuf>,
    public_url: Option<String>,
    admin_key: Option<String>,
    operator_key: Option<String>,
    cache_mb: Option<u64>,
    reserve_mb: Option<u64>,
    client_ip_header: Option<String>,
    max_sandboxes: Option<usize>,
    max_customers: Option<u64>,
    max_snapshots: Option<usize>,
    access_log_max_entries: Option<u64>,
    access_log_max_age: Option<String>,
    sandbox_quota_mb: Option<u64>,
    pending_authorizations_per_client: Option<usize>,
    pending_authorizations_per_source: Option<usize>,
    header_read_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_connections_per_source: Option<usize>,
    shutdown_timeout: Option<String>,
    idle_expiry: Option<String>,
    idle_check: Option<String>,
    public_metrics: Option<bool>,
    webhook_retry_schedule: Option<String>,
    webhook_timeout: Option<String>,
    webhook_disable_after: Option<String>,
    webhook_private_addresses: Option<String>,
    portal_signup: Option<bool>,
    portal_invite_code: Option<String>,
    portal_idle_timeout: Option<String>,
    portal_signups_per_source: Option<u32>,
    portal_signups_per_day: Option<u32>,
}

/// The developer portal's settings.
#[derive(Debug, Clone)]
pub struct PortalSettings {
    /// A portal session unused for this long (real time) ends.
    pub idle_timeout: Duration,
    /// Whether visitors may create their own sandbox at `/portal/sign-up`.
    pub signup: bool,
    /// The code a visitor must give to sign up, when set.
    pub invite_code: Option<String>,
    /// Sandboxes one source address may create by sign-up per day.
    pub signups_per_source: u32,
    /// Sandboxes all visitors together may create by sign-up per day.
    pub signups_per_day: u32,
}

impl Default for PortalSettings {
    fn default() -> Self {
        PortalSettings {
            idle_timeout: Duration::from_secs(30 * 60),
            signup: false,
            invite_code: None,
            signups_per_source: 3,
            signups_per_day: 100,
        }
    }
}

/// How webhooks are delivered.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The delay before each retry (after attempt 1, 2 …); when they run out the message has
    /// failed.
    pub retry_schedule: Vec<Duration>,
    /// Most one attempt may take.
    pub timeout: Duration,
    /// An endpoint failing without a success for this long (real time) is disabled.
    pub disable_after: Option<Duration>,
    /// Whether deliveries may go to private, loopback and link-local addresses.
    pub allow_private: bool,
}

/// The sandbox default: short, so a rehearsal walks the schedule in minutes of sandbox time.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,30s,2m,10m,1h,6h";
/// The schedule the Standard Webhooks specification suggests.
pub const STANDARD_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retry_schedule: parse_schedule(DEFAULT_RETRY_SCHEDULE).unwrap_or_default(),
            timeout: Duration::from_secs(10),
            disable_after: Some(Duration::from_secs(24 * 3600)),
            allow_private: true,
        }
    }
}

/// `"5s,30s,2m"` or `"standard"`.
fn parse_schedule(value: &str) -> Result<Vec<Duration>, String> {
    let value = if value.trim() == "standard" {
        STANDARD_RETRY_SCHEDULE
    } else {
        value
    };
    let mut out = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let d = crate::clock::parse_duration(part).map_err(|e| format!("webhook-retry-schedule: {e}"))?;
        if d <= SignedDuration::ZERO || d > SignedDuration::from_hours(7 * 24) {
            return Err(format!("webhook-retry-schedule: {part:?} must be between 1ms and 7d"));
        }
        out.push(d.unsigned_abs());
    }
    if out.len() > 20 {
        return Err("webhook-retry-schedule: at most 20 retries".into());
    }
    Ok(out)
}

/// What an operator may create.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most sandboxes the server holds (the default one included).
    pub max_sandboxes: usize,
    /// Most customers (declared plus generated) a created sandbox's scenario may have.
    pub max_customers: u64,
    /// A created sandbox unused for this long (real time) is deleted; `None` keeps them all.
    pub idle_expiry: Option<SignedDuration>,
    /// How often idle sandboxes are looked for.
    pub idle_check: Duration,
    /// Most snapshots one sandbox may keep.
    pub max_snapshots: usize,
    /// Most access-log entries one sandbox keeps (the oldest go first).
    pub access_log_entries: u64,
    /// Most authorization requests one client may have waiting for login and consent.
    pub pending_per_client: usize,
    /// Most authorization requests one source address may have waiting.
    pub pending_per_source: usize,
    /// Storage quota of a created sandbox in MiB (live world and snapshots), unless the
    /// operator sets its own; `None` for none.
    pub sandbox_quota_mb: Option<u64>,
    /// Access-log entries older than this (sandbox time) are deleted; `None` keeps them (up
    /// to `access_log_entries`).
    pub access_log_max_age: Option<SignedDuration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sandboxes: 1_000,
            max_customers: 10_000,
            idle_expiry: Some(SignedDuration::from_hours(30 * 24)),
            idle_check: Duration::from_secs(60),
            max_snapshots: 20,
            access_log_entries: 100_000,
            pending_per_client: 1_000,
            pending_per_source: 20,
            sandbox_quota_mb: Some(512),
            access_log_max_age: None,
        }
    }
}

/// How long connections may hold the server.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Most time from the first byte of a request head to its end.
    pub header_read_timeout: Duration,
    /// Most time a connection may wait, without sending anything, for its next request (or,
    /// when new, its first).
    pub idle_timeout: Duration,
    /// Most connections one source address may have open; `None` for no cap (the default behind a
    /// proxy: every connection then comes from the proxy, which caps per client).
    pub max_per_source: Option<usize>,
    /// Most time a shutdown waits for requests in flight; connections still open then are
    /// closed.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_per_source: Some(256),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// The resolved settings of a server.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,
    /// Scenario of the default sandbox (default: the embedded scenarios/default.yaml).
    pub scenario: Option<PathBuf>,
    pub fresh: bool,
    /// Public base URL (default: http://HOST:PORT once bound).
    pub public_url: Option<String>,
    /// Admin key of the default sandbox (default: generated once, kept in the data dir).
    pub admin_key: Option<String>,
    /// Operator key for `/operator/v1` (default: generated once, kept in the data dir).
    pub operator_key: Option<String>,
    pub cache_mb: u64,
    /// The emergency disk reserve in MiB (see `storage::reserve`).
    pub reserve_mb: u64,
    /// The header a trusted proxy in front sets to the client's address (`x-forwarded-for`,
    /// `x-real-ip`); per-source caps and lockouts then count that address.
    pub client_ip_header: Option<String>,
    pub limits: Limits,
    /// Timeouts and caps of connections.
    pub connections: ConnectionLimits,
    /// Serve `/metrics` without the operator key.
    pub public_metrics: bool,
    pub webhooks: WebhookSettings,
    pub portal: PortalSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 8080,
            data_dir: PathBuf::from("sandbank-data"),
            scenario: None,
            fresh: false,
            public_url: None,
            admin_key: None,
            operator_key: None,
            cache_mb: 256,
            reserve_mb: 8,
            client_ip_header: None,
            limits: Limits::default(),
            connections: ConnectionLimits::default(),
            public_metrics: false,
            webhooks: WebhookSettings::default(),
            portal: PortalSettings::default(),
        }
    }
}

/// A duration setting: `"7d"`, `"12h"`, `"P30D"`; `"off"` or `"0"` for never.
fn parse_optional_duration(name: &str, value: &str) -> Result<Option<SignedDuration>, String> {
    if matches!(value.trim(), "off" | "never" | "0") {
        return Ok(None);
    }
    let d = crate::clock::parse_duration(value).map_err(|e| format!("{name}: {e}"))?;
    if d <= SignedDuration::ZERO {
        return Err(format!("{name}: must be positive, or \"off\""));
    }
    Ok(Some(d))
}

impl Config {
    // Long on purpose: one setting after another (flag, environment, file, default), in the order `--help` lists them.
    /// Resolves the layers: defaults, then the file named by `--config` (if any), then the
    /// environment and flags (clap has already merged those two, flags winning).
    pub fn resolve(args: &ServeArgs) -> Result<Config, String> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let mut c = Config::default();
        macro_rules! layer {
            ($field:ident) => {
                if let Some(v) = args.$field.clone().or(file.$field) {
                    c.$field = v;
                }
            };
            (opt $field:ident) => {
                c.$field = args.$field.clone().or(file.$field).or(c.$field);
            };
        }
        layer!(host);
        layer!(port);
        layer!(data_dir);
        layer!(cache_mb);
        layer!(reserve_mb);
        layer!(opt scenario);
        layer!(opt public_url);
        layer!(opt admin_key);
        layer!(opt operator_key);
        layer!(opt client_ip_header);
        if let Some(h) = &c.client_ip_header
            && axum::http::HeaderName::from_bytes(h.as_bytes()).is_err()
        {
            return Err(format!("client-ip-header: {h:?} is not a header name"));
        }
        c.fresh = args.fresh;
        c.public_metrics = args.public_metrics || file.public_metrics.unwrap_or(false);
        if let Some(n) = args.max_sandboxes.or(file.max_sandboxes) {
            if n == 0 {
                return Err("max-sandboxes: must be at least 1 (the default sandbox)".into());
            }
            c.limits.max_sandboxes = n;
        }
        if let Some(n) = args.max_customers.or(file.max_customers) {
            c.limits.max_customers = n;
        }
        if let Some(n) = args.max_snapshots.or(file.max_snapshots) {
            c.limits.max_snapshots = n;
        }
        if let Some(n) = args.access_log_max_entries.or(file.access_log_max_entries) {
            c.limits.access_log_entries = n.max(1);
        }
        if let Some(v) = args.access_log_max_age.clone().or(file.access_log_max_age) {
            c.limits.access_log_max_age = parse_optional_duration("access-log-max-age", &v)?;
        }
        if let Some(n) = args.sandbox_quota_mb.or(file.sandbox_quota_mb) {
            c.limits.sandbox_quota_mb = (n > 0).then_some(n);
        }
        if let Some(n) = args
            .pending_authorizations_per_client
            .or(file.pending_authorizations_per_client)
        {
            c.limits.pending_per_client = n.max(1);
        }
        if let Some(n) = args
            .pending_authorizations_per_source
            .or(file.pending_authorizations_per_source)
        {
            c.limits.pending_per_source = n.max(1);
        }
        if let Some(v) = args.header_read_timeout.clone().or(file.header_read_timeout) {
            c.connections.header_read_timeout = connection_timeout("header-read-timeout", &v)?;
        }
        if let Some(v) = args.idle_timeout.clone().or(file.idle_timeout) {
            c.connections.idle_timeout = connection_timeout("idle-timeout", &v)?;
        }
        if let Some(v) = args.shutdown_timeout.clone().or(file.shutdown_timeout) {
            c.connections.shutdown_grace = connection_timeout("shutdown-timeout", &v)?;
        }
        c.connections.max_per_source = match args.max_connections_per_source.or(file.max_connections_per_source) {
            Some(0) => None,
            Some(n) => Some(n),
            None if c.client_ip_header.is_some() => None,
            None => c.connections.max_per_source,
        };
        if let Some(v) = args.idle_expiry.clone().or(file.idle_expiry) {
            c.limits.idle_expiry = parse_optional_duration("idle-expiry", &v)?;
        }
        if let Some(v) = args.idle_check.clone().or(file.idle_check) {
            let d = parse_optional_duration("idle-check", &v)?
                .ok_or("idle-check: must be a positive duration such as \"1m\"")?;
            c.limits.idle_check = d.unsigned_abs();
        }
        if let Some(v) = args.webhook_retry_schedule.clone().or(file.webhook_retry_schedule) {
            c.webhooks.retry_schedule = parse_schedule(&v)?;
        }
        if let Some(v) = args.webhook_timeout.clone().or(file.webhook_timeout) {
            let d = parse_optional_duration("webhook-timeout", &v)?
                .filter(|d| *d <= SignedDuration::from_secs(60))
                .ok_or("webhook-timeout: give a duration from 1ms to 60s, e.g. \"10s\"")?;
            c.webhooks.timeout = d.unsigned_abs();
        }
        if let Some(v) = args.webhook_disable_after.clone().or(file.webhook_disable_after) {
            c.webhooks.disable_after = parse_optional_duration("webhook-disable-after", &v)?.map(|d| d.unsigned_abs());
        }
        c.webhooks.allow_private = match args
            .webhook_private_addresses
            .clone()
            .or(file.webhook_private_addresses)
            .as_deref()
        {
            Some("allow") => true,
            Some("refuse") => false,
            Some(other) => {
                return Err(format!(
                    "webhook-private-addresses: give allow or refuse, not {other:?}"
                ));
            }
            None => is_loopback_host(&c.host),
        };
        c.portal.signup = args.portal_signup || file.portal_signup.unwrap_or(false);
        c.portal.invite_code = args
            .portal_invite_code
            .clone()
            .or(file.portal_invite_code)
            .filter(|code| !code.is_empty());
        if let Some(v) = args.portal_idle_timeout.clone().or(file.portal_idle_timeout) {
            c.portal.idle_timeout = parse_optional_duration("portal-idle-timeout", &v)?
                .filter(|d| *d >= SignedDuration::from_secs(1) && *d <= SignedDuration::from_hours(24))
                .ok_or("portal-idle-timeout: give a duration from 1s to 24h, e.g. \"30m\"")?
                .unsigned_abs();
        }
        if let Some(n) = args.portal_signups_per_source.or(file.portal_signups_per_source) {
            c.portal.signups_per_source = n;
        }
        if let Some(n) = args.portal_signups_per_day.or(file.portal_signups_per_day) {
            c.portal.signups_per_day = n;
        }
        Ok(c)
    }
}

/// A connection timeout: from 100 ms to 10 minutes.
fn connection_timeout(name: &str, value: &str) -> Result<Duration, String> {
    parse_optional_duration(name, value)?
        .filter(|d| *d >= SignedDuration::from_millis(100) && *d <= SignedDuration::from_mins(10))
        .map(|d| d.unsigned_abs())
        .ok_or_else(|| format!("{name}: give a duration from 100ms to 10m, e.g. \"10s\""))
}

/// Whether the server listens only on this machine (then its webhook receivers are too).
fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(flags: &[&str]) -> ServeArgs {
        let mut argv = vec!["sandbank"];
        argv.extend_from_slice(flags);
        crate::cli::Cli::parse_from(argv).serve
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile_dir();
        let file = dir.join("sandbank.toml");
        std::fs::write(
            &file,
            "port = 9000\nmax-sandboxes = 5\nidle-expiry = \"off\"\ncache-mb = 64\n",
        )
        .unwrap();
        let c = Config::resolve(&args(&["--config", file.to_str().unwrap(), "--port", "9100"])).unwrap();
        assert_eq!(c.port, 9100);
        assert_eq!(c.limits.max_sandboxes, 5);
        assert_eq!(c.limits.idle_expiry, None);
        assert_eq!(c.cache_mb, 64);
        assert_eq!(c.host, "127.0.0.1");
        std::fs::write(&file, "prot = 1\n").unwrap();
        let err = Config::resolve(&args(&["--config", file.to_str().unwrap()])).unwrap_err();
        assert!(err.contains("prot"), "{err}");
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sandbank-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
