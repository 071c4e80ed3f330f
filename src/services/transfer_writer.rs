//! The transfer writer: concurrent transfer requests are applied together in one atomic
//! write by a single thread and synced once per batch, so they share the cost of a sled
//! transaction and of a disk sync instead of contending for them. A request is answered only
//! after its batch is on disk.

use super::transfers::{ExecError, Written};
use crate::error::ApiError;
use crate::storage::{SandboxStore, TxError, TxResult};

/// One transfer to write: the work inside the shared atomic write. It may run again if the
/// write is retried, and must write nothing when it answers `Err`.
pub type TransferJob = Box<dyn Fn(&crate::storage::LedgerTx<'_>) -> TxResult<Result<Written, ExecError>> + Send>;

type TransferReply = tokio::sync::oneshot::Sender<Result<Result<Written, ExecError>, ApiError>>;

enum Message {
    Write(SandboxStore, TransferJob, TransferReply),
    /// Answered once every job queued before it is written and synced.
    Barrier(tokio::sync::oneshot::Sender<()>),
    Stop,
}

/// The sending side of the server's transfer writer; every sandbox holds a clone. Each job
/// carries the store of the sandbox it belongs to, so a transfer can only be written under
/// its own sandbox's keys.
#[derive(Clone)]
pub struct TransferWriter {
    queue: std::sync::mpsc::Sender<Message>,
}

/// The writer's receiving end until the server starts the thread (`TransferWriterWorker::start`).
pub struct TransferWriterWorker {
    rx: std::sync::mpsc::Receiver<Message>,
}

/// The running writer thread.
pub struct RunningWriter {
    queue: std::sync::mpsc::Sender<Message>,
    thread: std::thread::JoinHandle<()>,
}

/// Most transfers written in one batch.
const BATCH: usize = 256;

/// A writer handle and the worker that serves it.
pub fn transfer_writer() -> (TransferWriter, TransferWriterWorker) {
    let (queue, rx) = std::sync::mpsc::channel();
    (TransferWriter { queue }, TransferWriterWorker { rx })
}

impl TransferWriterWorker {
    /// Starts the writer thread; `writer` is used to stop it.
    pub fn start(self, writer: &TransferWriter) -> std::io::Result<RunningWriter> {
        let rx = self.rx;
        let thread = std::thread::Builder::new()
            .name("transfer-writer".into())
            .spawn(move || write_batches(rx))?;
        Ok(RunningWriter {
            queue: writer.queue.clone(),
            thread,
        })
    }
}

impl RunningWriter {
    /// Finishes the batches queued so far, then ends the thread; whether it ended without a
    /// panic.
    pub fn stop(self) -> bool {
        let _ = self.queue.send(Message::Stop);
        self.thread.join().is_ok()
    }

    /// Whether the thread has ended (it only should after `stop`).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

impl TransferWriter {
    pub async fn submit(&self, store: &SandboxStore, job: TransferJob) -> Result<Result<Written, ExecError>, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue
            .send(Message::Write(store.clone(), job, reply))
            .map_err(|_| ApiError::internal("the transfer writer has stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("the transfer writer has stopped"))?
    }

    /// Waits until every job queued so far is written (or answered with an error): a
    /// lifecycle change calls it once its sandbox's gate is closed, so no transfer whose
    /// request was cancelled meanwhile can still land in the world being copied or replaced.
    pub async fn barrier(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.queue.send(Message::Barrier(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

type Queued = (SandboxStore, TransferJob, TransferReply);

fn write_batches(rx: std::sync::mpsc::Receiver<Message>) {
    let mut stopping = false;
    while !stopping {
        let mut barrier = None;
        let mut batch: Vec<Queued> = match rx.recv() {
            Ok(Message::Write(store, job, reply)) => vec![(store, job, reply)],
            Ok(Message::Barrier(done)) => {
                let _ = done.send(());
                continue;
            }
            Ok(Message::Stop) | Err(_) => break,
        };
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(Message::Write(store, job, reply)) => batch.push((store, job, reply)),
                Ok(Message::Barrier(done)) => {
                    barrier = Some(done);
                    break;
                }
                Ok(Message::Stop) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        write_batch(batch);
        if let Some(done) = barrier {
            let _ = done.send(());
        }
    }
}

/// One atomic write per sandbox in the batch (so one sandbox's failure cannot undo
/// another's transfers), then one shared sync for all of them.
fn write_batch(mut batch: Vec<Queued>) {
    let mut groups: Vec<Vec<Queued>> = Vec::new();
    while let Some(first) = batch.pop() {
        let (same, rest): (Vec<Queued>, Vec<Queued>) =
            batch.into_iter().partition(|(s, _, _)| s.same_sandbox(&first.0));
        batch = rest;
        let mut group = vec![first];
        group.extend(same);
        // Oldest first within a sandbox: the order the requests arrived in.
        group.reverse();
        groups.push(group);
    }
    let mut written = Vec::with_capacity(groups.len());
    for group in groups {
        let store = group[0].0.clone();
        let result = store.atomically::<Vec<Result<Written, ExecError>>, ()>(|tx| {
            let mut results = Vec::with_capacity(group.len());
            for (_, job, _) in &group {
                results.push(job(tx)?);
            }
            Ok(results)
        });
        written.push((group, result));
    }
    let sync_started = std::time::Instant::now();
    let synced = written
        .first()
        .map(|(g, _)| g[0].0.flush_blocking().map_err(ApiError::from))
        .unwrap_or(Ok(()));
    let metrics = crate::metrics::metrics();
    metrics.write_batch(written.iter().map(|(g, _)| g.len()).sum(), sync_started.elapsed());
    for (group, result) in written {
        let outcome = match (&synced, result) {
            (Err(e), _) => Err(e.clone()),
            (Ok(()), Ok(results)) => Ok(results),
            // A full disk or a storage fault is answered as such (507, 503), not as our bug.
            (Ok(()), Err(TxError::Storage(e))) => Err(ApiError::from(e)),
            (Ok(()), Err(TxError::Abort(()))) => Err(ApiError::internal("transfer batch aborted")),
        };
        match outcome {
            Ok(results) => {
                for (store, result) in group.iter().map(|(s, _, _)| s).zip(&results) {
                    if let Ok(Written::New(t)) = result {
                        metrics.transfer(store.sandbox_id(), t.status().code());
                    }
                }
                for ((_, _, reply), result) in group.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                for (_, _, reply) in group {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
