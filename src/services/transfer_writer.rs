//! The transfer writer: concurrent transfer requests are applied together in one atomic
//! write by a single thread and synced once per batch, so they share the cost of a sled
//! transaction and of a disk sync instead of contending for them. A request is answered only
//! after its batch is on disk.

use super::transfers::{ExecError, Written};
use crate::error::ApiError;
use crate::storage::{TxError, TxResult};

/// One transfer to write: the work inside the shared atomic write. It may run again if the
/// write is retried, and must write nothing when it answers `Err`.
pub type TransferJob = Box<dyn Fn(&crate::storage::LedgerTx<'_>) -> TxResult<Result<Written, ExecError>> + Send>;

type TransferReply = tokio::sync::oneshot::Sender<Result<Result<Written, ExecError>, String>>;

/// Writes transfer requests in batches: one thread takes every request waiting, applies them
/// all in one atomic write, syncs once, and answers each. Concurrent transfers then share the
/// cost of a transaction and of a disk sync instead of contending for them.
#[derive(Default)]
pub struct TransferWriter {
    queue: std::sync::OnceLock<std::sync::mpsc::Sender<(TransferJob, TransferReply)>>,
}

/// Most transfers written in one batch.
const BATCH: usize = 256;

impl TransferWriter {
    pub async fn submit(
        &self,
        store: &crate::storage::SandboxStore,
        job: TransferJob,
    ) -> Result<Result<Written, ExecError>, ApiError> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel::<(TransferJob, TransferReply)>();
            let store = store.clone();
            let started = std::thread::Builder::new()
                .name("transfer-writer".into())
                .spawn(move || write_batches(store, rx));
            if let Err(e) = started {
                tracing::error!(error = %e, "could not start the transfer writer");
            }
            tx
        });
        let (reply, answer) = tokio::sync::oneshot::channel();
        queue
            .send((job, reply))
            .map_err(|_| ApiError::internal("the transfer writer has stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("the transfer writer dropped a request"))?
            .map_err(ApiError::internal)
    }
}

fn write_batches(store: crate::storage::SandboxStore, rx: std::sync::mpsc::Receiver<(TransferJob, TransferReply)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let written = store.atomically::<Vec<Result<Written, ExecError>>, ()>(|tx| {
            let mut results = Vec::with_capacity(batch.len());
            for (job, _) in &batch {
                results.push(job(tx)?);
            }
            Ok(results)
        });
        let outcome = match written {
            Ok(results) => match store.flush_blocking() {
                Ok(()) => Ok(results),
                Err(e) => Err(e.to_string()),
            },
            Err(TxError::Storage(e)) => Err(e.to_string()),
            Err(TxError::Abort(())) => Err("transfer batch aborted".to_owned()),
        };
        match outcome {
            Ok(results) => {
                for ((_, reply), result) in batch.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
