//! The binary's commands: serve (with the startup banner), build the default sandbox into the
//! data dir (in a child process, so the server starts with a fresh cache), check a scenario,
//! print the OpenAPI description, and the container's healthcheck.

use crate::cli::{Cli, Command, ScenarioAction};
use crate::scenario::{self, LoadedScenario};
use std::process::ExitCode;

fn load_scenario(path: Option<&std::path::Path>) -> Result<LoadedScenario, scenario::ScenarioError> {
    // Fault rules name operations of the API, which only the HTTP layer knows.
    let operations = &crate::http::faults::faultable_operation;
    match path {
        Some(p) => scenario::load::load_file_with(p, operations),
        None => scenario::load::load_str_with(
            scenario::DEFAULT_SCENARIO,
            "<embedded scenarios/default.yaml>",
            operations,
        ),
    }
}

/// Writes to stdout; a reader that went away (`sandbank openapi | head`) is not an error, so
/// a closed pipe ends the output quietly instead of panicking as `println!` does.
fn out(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_fmt(text)
        .and_then(|_| stdout.write_all(b"\n"))
        .and_then(|_| stdout.flush());
}

/// `sandbank healthcheck`: asks the server on this machine for `/healthz` (for a container's
/// HEALTHCHECK, where no curl is installed); exit 0 when it answers 200.
fn healthcheck(args: &crate::cli::ServeArgs) -> ExitCode {
    use std::io::{Read, Write};
    let port = args.port.unwrap_or(8080);
    let attempt = || -> std::io::Result<bool> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3))?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")?;
        let mut answer = Vec::new();
        stream.take(4096).read_to_end(&mut answer)?;
        Ok(answer.starts_with(b"HTTP/1.1 200"))
    };
    match attempt() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("the server on port {port} did not answer /healthz with 200");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("no server answers on 127.0.0.1:{port}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command the command line names (serving when it names none).
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Openapi) => {
            out(format_args!("{}", crate::http::openapi::openapi_json()));
            ExitCode::SUCCESS
        }
        Some(Command::Scenario {
            action: ScenarioAction::Check { file },
        }) => match load_scenario(Some(&file)) {
            Ok(s) => {
                out(format_args!(
                    "{}: ok — scenario {:?}, {} declared customers, {} generated, {} clients",
                    file.display(),
                    s.scenario.name,
                    s.scenario.customers.len(),
                    s.scenario.populations.iter().map(|p| p.count.value as u64).sum::<u64>(),
                    s.scenario.clients.len()
                ));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Some(Command::Build) => build(cli.serve),
        Some(Command::Healthcheck) => healthcheck(&cli.serve),
        Some(Command::Serve) | None => serve(cli.serve),
    }
}

fn resolve_config(args: &crate::cli::ServeArgs) -> Option<crate::Config> {
    match crate::Config::resolve(args) {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("invalid settings: {e}");
            None
        }
    }
}

/// `sandbank build`: builds the default sandbox into the data dir and prints the counts as JSON.
fn build(args: crate::cli::ServeArgs) -> ExitCode {
    let Some(config) = resolve_config(&args) else {
        return ExitCode::from(2);
    };
    let scenario = match load_scenario(config.scenario.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("the scenario is not valid, nothing was built:\n{e}");
            return ExitCode::from(2);
        }
    };
    let boot = crate::BootConfig {
        config,
        scenario,
        public_url: String::new(),
    };
    match crate::services::lifecycle::build_default(&boot) {
        Ok((_, r)) => {
            out(format_args!(
                "{{\"generated\":{},\"customers\":{},\"accounts\":{},\"transactions\":{},\"seconds\":{:.2}}}",
                r.generated,
                r.customers,
                r.accounts,
                r.transactions,
                r.elapsed.as_secs_f64()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot build the sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Builds an empty (or `--fresh`) data dir in a child process: generating a large world
/// leaves memory behind in the allocator, and the server should not carry it while serving.
fn build_in_child(config: &crate::Config) -> Result<Option<crate::BootReport>, String> {
    let empty = !config.data_dir.join("db").exists();
    if !(config.fresh || empty) {
        return Ok(None);
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the sandbank executable: {e}"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("build")
        .arg("--data-dir")
        .arg(&config.data_dir)
        .arg("--cache-mb")
        .arg(config.cache_mb.to_string())
        .arg("--reserve-mb")
        .arg(config.reserve_mb.to_string());
    if let Some(s) = &config.scenario {
        cmd.arg("--scenario").arg(s);
    }
    if config.fresh {
        cmd.arg("--fresh");
    }
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run the build: {e}"))?;
    if !out.status.success() {
        return Err("building the sandbox failed (see above)".into());
    }
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("unexpected build output: {e}"))?;
    let n = |k: &str| report[k].as_u64().unwrap_or(0);
    Ok(Some(crate::BootReport {
        generated: true,
        customers: n("customers"),
        accounts: n("accounts"),
        transactions: n("transactions"),
        other_sandboxes: 0,
        elapsed: std::time::Duration::from_secs_f64(report["seconds"].as_f64().unwrap_or(0.0)),
    }))
}

// Long on purpose: the startup sequence as it happens: settings, logging, boot, listener, banner, serving.
fn serve(args: crate::cli::ServeArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sled=warn".into()),
        )
        .init();
    let Some(mut config) = resolve_config(&args) else {
        return ExitCode::from(2);
    };
    let scenario = match load_scenario(config.scenario.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("the scenario is not valid, nothing was started:\n{e}");
            return ExitCode::from(2);
        }
    };
    let started = std::time::Instant::now();
    let built = match build_in_child(&config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if built.is_some() {
        config.fresh = false;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind((config.host.as_str(), config.port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {}:{}: {e}", config.host, config.port);
                return ExitCode::FAILURE;
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("cannot read the listening address: {e}");
                return ExitCode::FAILURE;
            }
        };
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_owned();
        let data_dir = config.data_dir.clone();
        let boot = crate::BootConfig {
            config,
            scenario,
            public_url: public_url.clone(),
        };
        let booted = tokio::task::spawn_blocking(move || crate::boot(boot)).await;
        let (server, report) = match booted {
            Ok(Ok((server, report))) => match built {
                Some(b) => (
                    server,
                    crate::BootReport {
                        elapsed: started.elapsed(),
                        other_sandboxes: report.other_sandboxes,
                        ..b
                    },
                ),
                None => (server, report),
            },
            Ok(Err(e)) => {
                eprintln!("cannot start the sandbox: {e}");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("cannot start the sandbox: {e}");
                return ExitCode::FAILURE;
            }
        };
        let Some(default) = server.default_sandbox() else {
            eprintln!("cannot start: the default sandbox did not open");
            return ExitCode::FAILURE;
        };
        out(format_args!(
            "{}",
            banner(&server, &default, &report, &public_url, &data_dir)
        ));
        match crate::run(server, listener, crate::shutdown_signal()).await {
            Ok(()) => {
                tracing::info!("stopped; all writes flushed");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("server error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

// Long on purpose: the startup banner's text, line by line.
fn banner(
    server: &crate::Server,
    state: &crate::Sandbox,
    report: &crate::BootReport,
    issuer: &str,
    data_dir: &std::path::Path,
) -> String {
    let s = &state.scenario.scenario;
    let mut out = String::new();
    let built = if report.generated {
        format!(
            "built from scenario {:?} in {:.1}s: {} customers, {} accounts, {} history entries",
            s.name,
            report.elapsed.as_secs_f64(),
            report.customers,
            report.accounts,
            report.transactions
        )
    } else {
        format!("reopened ({} accounts) from {}", report.accounts, data_dir.display())
    };
    out.push_str(&format!(
        "\nsandbank — {} ({}) sandbox is up\n  {built}\n",
        s.bank.name, s.bank.code
    ));
    out.push_str(&format!(
        "  sandbox clock:   {}\n",
        crate::clock::format_jst(state.clock.now())
    ));
    out.push_str(&format!("  Swagger UI:      {issuer}/swagger-ui/\n"));
    out.push_str(&format!("  OpenAPI:         {issuer}/openapi.json\n"));
    out.push_str(&format!(
        "  OIDC discovery:  {issuer}/.well-known/openid-configuration\n"
    ));
    out.push_str("  clients:\n");
    for (i, c) in s.clients.iter().enumerate() {
        out.push_str(&format!(
            "    {} client_id={}  client_secret={}  redirect_uri={}\n      scopes: {}\n",
            if i == 0 { "demo client:" } else { "            " },
            c.client_id.value,
            c.client_secret,
            c.redirect_uris.first().map(|u| u.value.as_str()).unwrap_or(""),
            c.scopes.iter().map(|s| s.0.as_str()).collect::<Vec<_>>().join(" ")
        ));
    }
    out.push_str("  test users (one-time code: asked on the consent screen for transfer and debit scopes):\n");
    // A user's accounts (their company's, for corporate users), as the API names them.
    let accounts_of = |username: &str| -> String {
        let Ok(Some(user)) = state.store.user(&format!("u-{username}")) else {
            return String::new();
        };
        let ids: Vec<String> = state
            .store
            .accounts_of(&user.customer_id)
            .unwrap_or_default()
            .into_iter()
            .map(|a| a.id)
            .collect();
        if ids.is_empty() {
            String::new()
        } else {
            format!("\n{:<22}accounts {}", "", ids.join(" "))
        }
    };
    for c in &s.customers {
        if let Some(l) = &c.login {
            out.push_str(&format!(
                "    {:<16} password {:<15} one-time code {}  individual, {}{}\n",
                l.username.value,
                l.password,
                l.otp,
                c.name.kanji,
                accounts_of(&l.username.value)
            ));
        }
        for (i, u) in c.users.iter().enumerate() {
            // The company's accounts once, after its last user.
            let accounts = if i + 1 == c.users.len() {
                accounts_of(&u.username.value)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "    {:<16} password {:<15} one-time code {}  {:?} of {}{accounts}\n",
                u.username.value, u.password, u.otp, u.role, c.name.kanji
            ));
        }
    }
    for p in &s.populations {
        out.push_str(&format!(
            "    {}00001..{}{:05}  password {}  one-time code 123456  (generated {:?})\n",
            p.login.username_prefix.value, p.login.username_prefix.value, p.count.value, p.login.password, p.kind
        ));
    }
    out.push_str(&format!(
        "  admin key:       {}   (Authorization: Bearer … on /sandbox/v1)\n",
        state.admin_key
    ));
    out.push_str(&format!(
        "  operator key:    {}   (Authorization: Bearer … on /operator/v1: create more sandboxes)\n",
        server.operator_key
    ));
    if report.other_sandboxes > 0 {
        out.push_str(&format!(
            "  sandboxes:       {} more, under {issuer}/s/{{id}}/ (GET /operator/v1/sandboxes lists them)\n",
            report.other_sandboxes
        ));
    }
    out.push_str(&format!(
        "  approval page:   {issuer}/bank/approvals   (corporate approvers approve or return transfers)\n"
    ));
    out.push_str(&format!(
        "  portal:          {issuer}/portal   (every lever in the browser: sign in with the admin key)\n"
    ));
    out.push_str(&format!(
        "  operator portal: {issuer}/operator/portal   (sign in with the operator key)\n"
    ));
    out.push_str(&format!("  data dir:        {}\n", data_dir.display()));
    out.push_str(&format!(
        "  for the README's commands, paste:\n    export SANDBANK_URL={issuer} ADMIN={} OP={}\n",
        state.admin_key, server.operator_key
    ));
    out
}
