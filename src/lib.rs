//! sandbank: a sandbox Japanese bank. One binary that behaves like a Japanese bank's open API
//! (reference APIs behind an OAuth 2.0 / OpenID Connect authorization server) over a synthetic,
//! scenario-driven world, with a sandbox clock for time travel.
//!
//! Layers (dependencies point down): `http` and `oauth` → `services` → `domain`; `storage`
//! holds sled behind typed repositories; `scenario` and `clock` feed the services. A `Server`
//! holds many isolated `Sandbox`es.

#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod ids;
pub mod metrics;
pub mod oauth;
pub mod sandbox;
pub mod scenario;
pub mod server;
pub mod services;
pub mod storage;
pub mod webhooks;

pub use config::Config;
pub use sandbox::Sandbox;
pub use server::Server;
pub use services::sandboxes::{BootConfig, BootReport, boot};

use std::future::Future;
use tokio::net::TcpListener;

/// The application router: every sandbox (the default at the root, the others under
/// `/s/{id}`) and the operator API.
pub fn build_app(server: Server) -> axum::Router {
    http::build_router(server)
}

/// Serves every sandbox on a pre-bound listener until `shutdown` completes, then drains
/// in-flight requests and makes every write durable. Starts and stops the background work
/// that serves all sandboxes: the transfer writer, group commit, the scheduler of due
/// transfers and approvals, the access-log writer and the housekeeping of idle sandboxes.
pub async fn run(
    server: Server,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let worker = server
        .transfer_worker
        .lock()
        .ok()
        .and_then(|mut w| w.take())
        .ok_or_else(|| std::io::Error::other("this server is already running"))?;
    let writer = worker.start(&server.transfer_writer)?;
    let group_commit = server.storage.start_group_commit()?;
    let app = build_app(server.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let log_writer = tokio::spawn(services::sandbox::write_access_log_every(
        server.clone(),
        std::time::Duration::from_millis(50),
        stop_rx,
    ));
    let scheduler = tokio::spawn(services::transfers::run_due_every(
        server.clone(),
        std::time::Duration::from_secs(1),
        stop_tx.subscribe(),
    ));
    let webhooks = tokio::spawn(webhooks::run_dispatchers(server.clone(), stop_tx.subscribe()));
    let housekeeping = tokio::spawn(services::sandboxes::housekeeping_every(
        server.clone(),
        server.config.limits.idle_check,
        stop_tx.subscribe(),
    ));
    let served = http::serve::serve(listener, app, server.config.connections.clone(), shutdown).await;
    let _ = stop_tx.send(true);
    let _ = log_writer.await;
    let _ = scheduler.await;
    let _ = housekeeping.await;
    let _ = webhooks.await;
    let _ = tokio::task::spawn_blocking(move || writer.stop()).await;
    server.storage.stop_group_commit();
    let _ = tokio::task::spawn_blocking(move || group_commit.join()).await;
    served?;
    server
        .storage
        .flush()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
