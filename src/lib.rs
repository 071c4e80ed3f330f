//! sandbank: a sandbox Japanese bank. One binary that behaves like a Japanese bank's open API
//! (reference APIs behind an OAuth 2.0 / OpenID Connect authorization server) over a synthetic,
//! scenario-driven world, with a sandbox clock for time travel.
//!
//! Layers (dependencies point down): `http` and `oauth` → `services` → `domain`; `storage`
//! holds sled behind typed repositories; `scenario` and `clock` feed the services.

#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod domain;
pub mod error;
pub mod http;
pub mod ids;
pub mod oauth;
pub mod scenario;
pub mod services;
pub mod state;
pub mod storage;

pub use services::sandbox::{BootConfig, BootReport, boot};
pub use state::AppState;

use std::future::Future;
use tokio::net::TcpListener;

/// The application router for a booted sandbox.
pub fn build_app(state: AppState) -> axum::Router {
    http::build_router(state)
}

/// Serves the sandbox on a pre-bound listener until `shutdown` completes, then drains
/// in-flight requests and makes every write durable.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = build_app(state.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let log_writer = tokio::spawn(services::sandbox::write_access_log_every(
        state.clone(),
        std::time::Duration::from_millis(50),
        stop_rx,
    ));
    let scheduler = tokio::spawn(services::transfers::run_due_every(
        state.clone(),
        std::time::Duration::from_secs(1),
        stop_tx.subscribe(),
    ));
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    let _ = stop_tx.send(true);
    let _ = log_writer.await;
    let _ = scheduler.await;
    served?;
    state
        .store
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
