//! The command line: `sandbank` (serve), `sandbank scenario check FILE`, `sandbank openapi`.
//! Every serve flag also reads an environment variable (`SANDBANK_*`) and a key of the config
//! file; `config` resolves the layers.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "sandbank",
    version,
    about = "A sandbox Japanese bank: open-API reference APIs behind OAuth 2.0 + PKCE"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the sandbox bank (the default).
    Serve,
    /// Work with scenario files.
    Scenario {
        #[command(subcommand)]
        action: ScenarioAction,
    },
    /// Print the OpenAPI description (JSON).
    Openapi,
    /// Build the sandbox from the scenario into the data dir, then exit (serve builds it
    /// this way by itself when the data dir is empty).
    Build,
    /// Ask the server on this machine (127.0.0.1, --port) for /healthz; exit 0 when it is up
    /// (a container's HEALTHCHECK).
    Healthcheck,
}

#[derive(Debug, Subcommand)]
pub enum ScenarioAction {
    /// Validate a scenario file; problems are reported with line and column.
    Check { file: PathBuf },
}

/// Server settings. Each also reads an environment variable and a key of the `--config` file;
/// a flag beats the environment, which beats the file, which beats the built-in default.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// TOML file with settings (keys as the flags: `port = 8080`, `max-sandboxes = 50`).
    #[arg(long, env = "SANDBANK_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1].
    #[arg(long, env = "SANDBANK_HOST", global = true)]
    pub host: Option<String>,
    /// Port to listen on, 0 picks a free one [default: 8080].
    #[arg(long, env = "SANDBANK_PORT", global = true)]
    pub port: Option<u16>,
    /// Where the server keeps its data [default: sandbank-data].
    #[arg(long, env = "SANDBANK_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Scenario of the default sandbox [default: the embedded scenarios/default.yaml].
    #[arg(long, env = "SANDBANK_SCENARIO", global = true)]
    pub scenario: Option<PathBuf>,
    /// Delete the data dir and build the default sandbox again from the scenario.
    #[arg(long, env = "SANDBANK_FRESH", global = true)]
    pub fresh: bool,
    /// Public base URL, used as the OAuth issuer [default: http://HOST:PORT].
    #[arg(long, env = "SANDBANK_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Admin key for the default sandbox's /sandbox/v1 [default: generated once, kept in the data dir].
    #[arg(long, env = "SANDBANK_ADMIN_KEY", global = true, hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Operator key for /operator/v1 [default: generated once, kept in the data dir].
    #[arg(long, env = "SANDBANK_OPERATOR_KEY", global = true, hide_env_values = true)]
    pub operator_key: Option<String>,
    /// Storage page cache in MiB [default: 256].
    #[arg(long, env = "SANDBANK_CACHE_MB", global = true)]
    pub cache_mb: Option<u64>,
    /// The header a trusted proxy in front sets to the client's address (e.g. x-forwarded-for);
    /// per-source limits count its last address [default: none, the connection's peer].
    #[arg(long, env = "SANDBANK_CLIENT_IP_HEADER", global = true)]
    pub client_ip_header: Option<String>,
    /// Emergency disk reserve in MiB, given back to the disk when it fills up so that deleting
    /// sandboxes and snapshots still works; 0 for none [default: 8].
    #[arg(long, env = "SANDBANK_RESERVE_MB", global = true)]
    pub reserve_mb: Option<u64>,
    /// Most sandboxes the server holds, the default one included [default: 1000].
    #[arg(long, env = "SANDBANK_MAX_SANDBOXES", global = true)]
    pub max_sandboxes: Option<usize>,
    /// Most snapshots one sandbox may keep [default: 20].
    #[arg(long, env = "SANDBANK_MAX_SNAPSHOTS", global = true)]
    pub max_snapshots: Option<usize>,
    /// Most access-log entries one sandbox keeps; the oldest go first [default: 100000].
    #[arg(long, env = "SANDBANK_ACCESS_LOG_MAX_ENTRIES", global = true)]
    pub access_log_max_entries: Option<u64>,
    /// Delete access-log entries older than this, sandbox time ("90d", "off") [default: off;
    /// --access-log-max-entries bounds the log].
    #[arg(long, env = "SANDBANK_ACCESS_LOG_MAX_AGE", global = true)]
    pub access_log_max_age: Option<String>,
    /// Storage quota of a created sandbox in MiB, over its live world and its snapshots; the
    /// operator may set another per sandbox; 0 for none [default: 512].
    #[arg(long, env = "SANDBANK_SANDBOX_QUOTA_MB", global = true)]
    pub sandbox_quota_mb: Option<u64>,
    /// Most authorization requests one client may have waiting for login and consent, per
    /// sandbox [default: 1000].
    #[arg(long, env = "SANDBANK_PENDING_AUTHORIZATIONS_PER_CLIENT", global = true)]
    pub pending_authorizations_per_client: Option<usize>,
    /// Most authorization requests one source address may have waiting, per sandbox [default: 20].
    #[arg(long, env = "SANDBANK_PENDING_AUTHORIZATIONS_PER_SOURCE", global = true)]
    pub pending_authorizations_per_source: Option<usize>,
    /// How long a connection may take to send a request head once it has begun [default: 10s].
    #[arg(long, env = "SANDBANK_HEADER_READ_TIMEOUT", global = true)]
    pub header_read_timeout: Option<String>,
    /// How long a connection may wait, sending nothing, for its next request [default: 60s].
    #[arg(long, env = "SANDBANK_IDLE_TIMEOUT", global = true)]
    pub idle_timeout: Option<String>,
    /// Most connections one source address may have open, 0 for no cap [default: 256, or no
    /// cap with --client-ip-header, where the proxy in front caps per client].
    #[arg(long, env = "SANDBANK_MAX_CONNECTIONS_PER_SOURCE", global = true)]
    pub max_connections_per_source: Option<usize>,
    /// How long a shutdown waits for requests in flight before closing their connections
    /// [default: 30s].
    #[arg(long, env = "SANDBANK_SHUTDOWN_TIMEOUT", global = true)]
    pub shutdown_timeout: Option<String>,
    /// Most customers a created sandbox's scenario may have [default: 10000].
    #[arg(long, env = "SANDBANK_MAX_CUSTOMERS", global = true)]
    pub max_customers: Option<u64>,
    /// Delete a created sandbox unused for this long, real time ("7d", "off") [default: 30d].
    #[arg(long, env = "SANDBANK_IDLE_EXPIRY", global = true)]
    pub idle_expiry: Option<String>,
    /// How often to look for idle sandboxes [default: 1m].
    #[arg(long, env = "SANDBANK_IDLE_CHECK", global = true)]
    pub idle_check: Option<String>,
    /// Serve /metrics to anyone (default: only with the operator key).
    #[arg(long, env = "SANDBANK_PUBLIC_METRICS", global = true)]
    pub public_metrics: bool,
    /// Webhook retry delays after each failed attempt, comma-separated, or "standard" for the
    /// Standard Webhooks schedule [default: 5s,30s,2m,10m,1h,6h].
    #[arg(long, env = "SANDBANK_WEBHOOK_RETRY_SCHEDULE", global = true)]
    pub webhook_retry_schedule: Option<String>,
    /// How long one webhook attempt may take [default: 10s].
    #[arg(long, env = "SANDBANK_WEBHOOK_TIMEOUT", global = true)]
    pub webhook_timeout: Option<String>,
    /// Disable an endpoint that has failed without a success for this long, real time ("off"
    /// to never) [default: 24h].
    #[arg(long, env = "SANDBANK_WEBHOOK_DISABLE_AFTER", global = true)]
    pub webhook_disable_after: Option<String>,
    /// Deliver webhooks to private, loopback and link-local addresses: "allow" or "refuse"
    /// [default: allow when listening on a loopback address, refuse otherwise].
    #[arg(long, env = "SANDBANK_WEBHOOK_PRIVATE_ADDRESSES", global = true)]
    pub webhook_private_addresses: Option<String>,
    /// Let visitors create their own sandbox in the portal (`/portal/sign-up`), for a public
    /// deployment.
    #[arg(long, env = "SANDBANK_PORTAL_SIGNUP", global = true)]
    pub portal_signup: bool,
    /// The code a visitor must give to sign up (default: none needed).
    #[arg(long, env = "SANDBANK_PORTAL_INVITE_CODE", global = true, hide_env_values = true)]
    pub portal_invite_code: Option<String>,
    /// End a portal session unused for this long [default: 30m].
    #[arg(long, env = "SANDBANK_PORTAL_IDLE_TIMEOUT", global = true)]
    pub portal_idle_timeout: Option<String>,
    /// Sandboxes one source address may create by sign-up per day [default: 3].
    #[arg(long, env = "SANDBANK_PORTAL_SIGNUPS_PER_SOURCE", global = true)]
    pub portal_signups_per_source: Option<u32>,
    /// Sandboxes all visitors together may create by sign-up per day [default: 100].
    #[arg(long, env = "SANDBANK_PORTAL_SIGNUPS_PER_DAY", global = true)]
    pub portal_signups_per_day: Option<u32>,
}
