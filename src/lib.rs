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
pub mod commands;
pub mod config;
pub mod domain;
pub mod http;
pub mod ids;
pub mod metrics;
pub mod oauth;
pub mod portal;
pub mod sandbox;
pub mod scenario;
pub mod server;
pub mod services;
pub mod storage;
pub mod webhooks;

pub use config::Config;
pub use sandbox::Sandbox;
pub use server::Server;
pub use services::lifecycle::{BootConfig, BootReport};

/// Opens the data dir and every sandbox in it (generating the default one into an empty data
/// dir), with the HTTP client webhooks are delivered with.
pub fn boot(cfg: BootConfig) -> Result<(server::Server, BootReport), services::lifecycle::BootError> {
    let webhook_http = webhooks::dispatcher::http_client(&cfg.config.webhooks);
    services::lifecycle::boot(cfg, webhook_http)
}

use std::future::Future;
use tokio::net::TcpListener;

/// The application router: every sandbox (the default at the root, the others under
/// `/s/{id}`) and the operator API.
pub fn build_app(server: Server) -> axum::Router {
    http::build_router(server)
}

// Long on purpose: starts and supervises every worker in one place, so the start and shutdown order reads top to bottom.
/// Serves every sandbox on a pre-bound listener until `shutdown` completes, then drains
/// in-flight requests and makes every write durable. Starts and stops the background work
/// that serves all sandboxes: the transfer writer, group commit, the scheduler of due
/// transfers and approvals, the access-log writer and the housekeeping of idle sandboxes.
///
/// A worker that panics or stops on its own while serving stops the server: the failure is
/// logged, connections are drained as on a shutdown, and `run` answers an error (the binary
/// then exits non-zero). A server whose background work is gone would accept requests it
/// cannot finish — transfers nobody writes, logs nobody stores — so it is better down and
/// restarted by its supervisor than up and quietly wrong.
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
    let writer = worker.start(
        &server.transfer_writer,
        std::sync::Arc::new(|size, sync| crate::metrics::metrics().write_batch(size, sync)),
    )?;
    let group_commit = server.storage.start_group_commit()?;
    let router = build_app(server.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Every worker reports here when it ends; before the stop signal that is a failure.
    let (ended_tx, mut ended) = tokio::sync::mpsc::unbounded_channel::<(&'static str, Result<(), String>)>();
    let watch = |name: &'static str, task: tokio::task::JoinHandle<()>| {
        let ended_tx = ended_tx.clone();
        tokio::spawn(async move {
            let result = task.await.map_err(|e| {
                if e.is_panic() {
                    format!("panicked: {}", panic_message(e.into_panic()))
                } else {
                    format!("was cancelled: {e}")
                }
            });
            let _ = ended_tx.send((name, result));
        });
    };
    watch(
        "the access-log writer",
        tokio::spawn(services::access_log::write_access_log_every(
            server.clone(),
            std::time::Duration::from_millis(50),
            stop_rx,
        )),
    );
    watch(
        "the scheduler of due transfers",
        tokio::spawn(services::transfers::run_due_every(
            server.clone(),
            std::time::Duration::from_secs(1),
            stop_tx.subscribe(),
        )),
    );
    watch(
        "the webhook dispatchers",
        tokio::spawn(webhooks::run_dispatchers(server.clone(), stop_tx.subscribe())),
    );
    watch(
        "housekeeping",
        tokio::spawn(services::lifecycle::housekeeping_every(
            server.clone(),
            server.config.limits.idle_check,
            stop_tx.subscribe(),
        )),
    );
    // The two threads cannot be awaited: they are looked at every second.
    let threads_alive = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            if writer.is_finished() {
                return "the transfer writer";
            }
            if group_commit.is_finished() {
                return "group commit";
            }
        }
    };
    const WORKERS: usize = 4;
    let (abort_tx, abort_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = abort_rx => {}
        }
    };
    let mut serving = tokio::spawn(http::serve::serve(
        listener,
        router,
        server.config.connections.clone(),
        shutdown,
    ));
    let mut failure: Option<String> = None;
    let mut reported = 0;
    let served = tokio::select! {
        served = &mut serving => Some(served),
        Some((name, result)) = ended.recv() => {
            reported += 1;
            failure = Some(match result {
                Ok(()) => format!("{name} stopped on its own"),
                Err(e) => format!("{name} {e}"),
            });
            None
        }
        name = threads_alive => {
            failure = Some(format!("{name} thread stopped on its own"));
            None
        }
    };
    let served = match served {
        Some(served) => served,
        None => {
            tracing::error!(
                reason = failure.as_deref().unwrap_or(""),
                "a background worker failed; stopping the server"
            );
            let _ = abort_tx.send(());
            (&mut serving).await
        }
    };
    let _ = stop_tx.send(true);
    drop(ended_tx);
    while reported < WORKERS {
        match tokio::time::timeout(std::time::Duration::from_secs(30), ended.recv()).await {
            Ok(Some((name, result))) => {
                reported += 1;
                if let Err(e) = result {
                    tracing::error!(worker = name, error = %e, "a background worker failed while stopping");
                    failure.get_or_insert_with(|| format!("{name} {e}"));
                }
            }
            Ok(None) => break,
            Err(_) => {
                tracing::error!("background workers did not stop within 30 s; leaving them");
                break;
            }
        }
    }
    let writer_result = tokio::task::spawn_blocking(move || writer.stop()).await;
    server.storage.stop_group_commit();
    let commit_result = tokio::task::spawn_blocking(move || group_commit.join()).await;
    if !matches!(writer_result, Ok(true)) {
        failure.get_or_insert_with(|| "the transfer writer thread panicked".into());
    }
    if !matches!(commit_result, Ok(Ok(()))) {
        failure.get_or_insert_with(|| "the group-commit thread panicked".into());
    }
    served.map_err(|e| std::io::Error::other(format!("the accept loop failed: {e}")))??;
    server
        .storage
        .flush()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    match failure {
        Some(reason) => Err(std::io::Error::other(format!("a background worker failed: {reason}"))),
        None => Ok(()),
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
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
