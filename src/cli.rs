//! The command line: `sandbank` (serve), `sandbank scenario check FILE`, `sandbank openapi`.
//! Every serve flag also reads an environment variable (`SANDBANK_*`).

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
}

#[derive(Debug, Subcommand)]
pub enum ScenarioAction {
    /// Validate a scenario file; problems are reported with line and column.
    Check { file: PathBuf },
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SANDBANK_HOST", default_value = "127.0.0.1", global = true)]
    pub host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "SANDBANK_PORT", default_value_t = 8080, global = true)]
    pub port: u16,
    /// Where the sandbox keeps its data.
    #[arg(long, env = "SANDBANK_DATA_DIR", default_value = "sandbank-data", global = true)]
    pub data_dir: PathBuf,
    /// Scenario file (default: the embedded scenarios/default.yaml).
    #[arg(long, env = "SANDBANK_SCENARIO", global = true)]
    pub scenario: Option<PathBuf>,
    /// Delete the data dir and build the sandbox again from the scenario.
    #[arg(long, env = "SANDBANK_FRESH", global = true)]
    pub fresh: bool,
    /// Public base URL, used as the OAuth issuer (default: http://HOST:PORT).
    #[arg(long, env = "SANDBANK_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Admin key for /sandbox/v1 (default: generated once and kept in the data dir).
    #[arg(long, env = "SANDBANK_ADMIN_KEY", global = true, hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Storage page cache in MiB.
    #[arg(long, env = "SANDBANK_CACHE_MB", default_value_t = 256, global = true)]
    pub cache_mb: u64,
}
