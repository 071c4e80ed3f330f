//! Group commit: concurrent atomic writes (transfers) are applied together in one atomic write
//! per sandbox by a single thread and synced once per batch, so they share the cost of a
//! transaction and of a disk sync instead of contending for them. A job learns its outcome
//! only after its batch is on disk: durability is the write's own, not its caller's.

use super::{LedgerTx, SandboxStore, StorageError, TxError, TxResult};
use std::sync::Arc;
use std::time::Duration;

/// One write to apply inside a batch's shared atomic write.
pub trait GroupJob: Send {
    /// The work inside the shared write. It may run again if the write is retried, and must
    /// leave nothing written when it answers `Err` (its own failures it keeps for `finish`).
    fn write(&self, tx: &LedgerTx<'_>) -> TxResult<()>;
    /// Called once, after the batch is synced (`Ok`) or could not be written.
    fn finish(self: Box<Self>, outcome: Result<(), StorageError>);
}

enum Message {
    Write(SandboxStore, Box<dyn GroupJob>),
    /// Answered once every job queued before it is written and synced.
    Barrier(tokio::sync::oneshot::Sender<()>),
    Stop,
}

/// The sending side of the server's group writer; every sandbox holds a clone. Each job
/// carries the store of the sandbox it belongs to, so it can only write under that
/// sandbox's keys.
#[derive(Clone)]
pub struct GroupWriter {
    queue: std::sync::mpsc::Sender<Message>,
}

/// The writer's receiving end until the server starts the thread (`GroupWriterWorker::start`).
pub struct GroupWriterWorker {
    rx: std::sync::mpsc::Receiver<Message>,
}

/// The running writer thread.
pub struct RunningWriter {
    queue: std::sync::mpsc::Sender<Message>,
    thread: std::thread::JoinHandle<()>,
}

/// Told the size and sync time of every batch (for the metrics).
pub type BatchObserver = Arc<dyn Fn(usize, Duration) + Send + Sync>;

/// The writer refused the job: its thread has stopped.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the group writer has stopped")]
pub struct WriterStopped;

/// Most jobs written in one batch.
const BATCH: usize = 256;

/// A writer handle and the worker that serves it.
pub fn group_writer() -> (GroupWriter, GroupWriterWorker) {
    let (queue, rx) = std::sync::mpsc::channel();
    (GroupWriter { queue }, GroupWriterWorker { rx })
}

impl GroupWriterWorker {
    /// Starts the writer thread; `writer` is used to stop it.
    pub fn start(self, writer: &GroupWriter, observe: BatchObserver) -> std::io::Result<RunningWriter> {
        let rx = self.rx;
        let thread = std::thread::Builder::new()
            .name("transfer-writer".into())
            .spawn(move || write_batches(rx, &*observe))?;
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

impl GroupWriter {
    /// Queues `job` for the next batch; its `finish` tells the outcome.
    pub fn submit(&self, store: &SandboxStore, job: Box<dyn GroupJob>) -> Result<(), WriterStopped> {
        self.queue
            .send(Message::Write(store.clone(), job))
            .map_err(|_| WriterStopped)
    }

    /// Waits until every job queued so far is written (or answered with an error): a
    /// lifecycle change calls it once its sandbox's gate is closed, so no job whose request
    /// was cancelled meanwhile can still land in the world being copied or replaced.
    pub async fn barrier(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.queue.send(Message::Barrier(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

type Queued = (SandboxStore, Box<dyn GroupJob>);

fn write_batches(rx: std::sync::mpsc::Receiver<Message>, observe: &(dyn Fn(usize, Duration) + Send + Sync)) {
    let mut stopping = false;
    while !stopping {
        let mut barrier = None;
        let mut batch: Vec<Queued> = match rx.recv() {
            Ok(Message::Write(store, job)) => vec![(store, job)],
            Ok(Message::Barrier(done)) => {
                let _ = done.send(());
                continue;
            }
            Ok(Message::Stop) | Err(_) => break,
        };
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(Message::Write(store, job)) => batch.push((store, job)),
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
        write_batch(batch, observe);
        if let Some(done) = barrier {
            let _ = done.send(());
        }
    }
}

/// One atomic write per sandbox in the batch (so one sandbox's failure cannot undo
/// another's jobs), then one shared sync for all of them.
fn write_batch(mut batch: Vec<Queued>, observe: &(dyn Fn(usize, Duration) + Send + Sync)) {
    let mut groups: Vec<Vec<Queued>> = Vec::new();
    while let Some(first) = batch.pop() {
        let (same, rest): (Vec<Queued>, Vec<Queued>) = batch.into_iter().partition(|(s, _)| s.same_sandbox(&first.0));
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
        let result = store.atomically::<(), ()>(|tx| {
            for (_, job) in &group {
                job.write(tx)?;
            }
            Ok(())
        });
        written.push((group, result));
    }
    let sync_started = std::time::Instant::now();
    let synced = written.first().map(|(g, _)| g[0].0.flush_blocking()).unwrap_or(Ok(()));
    observe(written.iter().map(|(g, _)| g.len()).sum(), sync_started.elapsed());
    for (group, result) in written {
        let outcome = match (&synced, result) {
            (Err(e), _) => Err(e.clone()),
            (Ok(()), Ok(())) => Ok(()),
            // A full disk or a storage fault is answered as such, not as our bug.
            (Ok(()), Err(TxError::Storage(e))) => Err(e),
            (Ok(()), Err(TxError::Abort(()))) => Err(StorageError::Codec("the batch's write was aborted".into())),
        };
        for (_, job) in group {
            job.finish(outcome.clone());
        }
    }
}
