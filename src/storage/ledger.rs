//! Atomic writes of money movements. `SandboxStore::atomically` runs a closure in one sled
//! transaction over every tree a movement touches — accounts, history, system ledger
//! postings, transfers and their indexes, the schedule, the event outbox and notifications —
//! so a movement and its records are written together or not at all. sled retries the closure
//! on conflict, so it must not have effects outside the `LedgerTx` it is given.

use super::codec::{decode, encode};
use super::keys::{date_bytes, month_bytes, position_bytes};
use super::{Result, SandboxStore, StorageError};
use crate::domain::account::Account;
use crate::domain::event::{Event, Notification};
use crate::domain::transaction::Transaction;
use crate::domain::transfer::TransferRequest;
use jiff::Timestamp;
use jiff::civil::Date;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

/// Most events stored in one outbox record. Readers of one event decode its whole chunk.
pub const OUTBOX_CHUNK: usize = 16;

/// Why a transactional closure gave up.
#[derive(Debug)]
pub enum TxError<E> {
    /// The caller's own reason (e.g. insufficient funds); nothing was written.
    Abort(E),
    Storage(StorageError),
}

/// What an operation inside `atomically` returns (abort with `abort`, or `?` on storage).
pub type TxResult<T> = std::result::Result<T, TxFailure>;

/// Why one attempt of an atomic write stopped: a conflict (the attempt is run again), the
/// caller's abort, or a storage failure. Opaque outside storage: callers make one with
/// `abort` and pass it on with `?`.
#[derive(Debug)]
pub struct TxFailure(ConflictableTransactionError<TxAbort>);

impl From<ConflictableTransactionError<TxAbort>> for TxFailure {
    fn from(e: ConflictableTransactionError<TxAbort>) -> Self {
        TxFailure(e)
    }
}

impl From<sled::transaction::UnabortableTransactionError> for TxFailure {
    fn from(e: sled::transaction::UnabortableTransactionError) -> Self {
        TxFailure(e.into())
    }
}

/// What travels through the engine's abort channel: the caller's error or a codec failure.
#[derive(Debug)]
pub enum TxAbort {
    Caller(Box<dyn std::any::Any + Send>),
    Codec(String),
}

/// The operations a movement may do, all inside one transaction.
pub struct LedgerTx<'a> {
    store: &'a SandboxStore,
    accounts: &'a TransactionalTree,
    transactions: &'a TransactionalTree,
    ledger: &'a TransactionalTree,
    transfers: &'a TransactionalTree,
    transfer_index: &'a TransactionalTree,
    schedule: &'a TransactionalTree,
    outbox: &'a TransactionalTree,
    notifications: &'a TransactionalTree,
    mandates: &'a TransactionalTree,
    meta: &'a TransactionalTree,
    grants: &'a TransactionalTree,
    /// Set when a grant is written, so readers of grants hear of it once the write commits.
    grant_touched: &'a std::sync::atomic::AtomicBool,
    /// Events of this write, stored together when it ends (see `write_outbox`).
    events: &'a std::cell::RefCell<Vec<Event>>,
    /// The latest state of each account written, for the account cache once the write commits.
    accounts_written: &'a std::cell::RefCell<std::collections::HashMap<String, Account>>,
}

fn codec<T>(r: Result<T>) -> TxResult<T> {
    r.map_err(|e| TxFailure(ConflictableTransactionError::Abort(TxAbort::Codec(e.to_string()))))
}

/// Inserts a record that must be new: a key that already exists is an internal error (the
/// whole write is abandoned), never a silent overwrite of another record.
fn insert_new(tree: &TransactionalTree, key: Vec<u8>, value: Vec<u8>, what: &str) -> TxResult<()> {
    if tree.insert(key, value)?.is_some() {
        return Err(TxFailure(ConflictableTransactionError::Abort(TxAbort::Codec(format!(
            "refusing to overwrite an existing {what}: its identifier was allocated twice"
        )))));
    }
    Ok(())
}

/// The sandbox-wide counters kept in its own data (see `LedgerTx::next`).
#[derive(Debug, Clone, Copy)]
pub enum Counter {
    /// Postings and notifications: any unique number will do.
    Record,
    /// The event outbox sequence: dense, in commit order.
    Event,
    /// The sequence part of `applyNo`.
    ApplyNo,
    /// Debit ids.
    Debit,
    /// Mandate ids.
    Mandate,
}

impl Counter {
    fn name(self) -> &'static [u8] {
        match self {
            Counter::Record => b"record",
            Counter::Event => b"event",
            Counter::ApplyNo => b"applyNo",
            Counter::Debit => b"debit",
            Counter::Mandate => b"mandate",
        }
    }
}

/// Stops the transaction with the caller's error.
pub fn abort<E: Send + 'static, T>(e: E) -> TxResult<T> {
    Err(TxFailure(ConflictableTransactionError::Abort(TxAbort::Caller(
        Box::new(e),
    ))))
}

impl LedgerTx<'_> {
    /// An account as this write sees it: its own latest write of it, else the committed
    /// account from memory (atomic writes are serialized and keep the cache current, see
    /// `record_cache`), else storage.
    pub fn account(&self, id: &str) -> TxResult<Option<Account>> {
        if let Some(a) = self.accounts_written.borrow().get(id) {
            return Ok(Some(a.clone()));
        }
        let key = self.store.key(&[id.as_bytes()]);
        if let Some(a) = self.store.storage.account_cache.get(&key) {
            return Ok(Some((*a).clone()));
        }
        match self.accounts.get(key)? {
            Some(v) => codec(decode(&v)).map(Some),
            None => Ok(None),
        }
    }

    pub fn put_account(&self, a: &Account) -> TxResult<()> {
        self.accounts
            .insert(self.store.key(&[a.id.as_bytes()]), codec(encode(a))?)?;
        self.accounts_written.borrow_mut().insert(a.id.clone(), a.clone());
        Ok(())
    }

    /// Adds a history entry (key: account, month, position).
    pub fn append_history(&self, account_id: &str, t: &Transaction) -> TxResult<()> {
        let mut pos = month_bytes(t.date).to_vec();
        pos.extend_from_slice(&position_bytes(t.date, t.seq));
        let key = self.store.key(&[account_id.as_bytes(), &pos]);
        insert_new(self.transactions, key, codec(encode(t))?, "history entry")
    }

    /// Posts to a system ledger account (fee income, clearing, suspense, external). Each
    /// posting is its own key, so concurrent movements never conflict on a hot balance.
    pub fn post_system(&self, account: &str, amount: i64, posting_id: u64) -> TxResult<()> {
        let key = self.store.key(&[account.as_bytes(), &posting_id.to_be_bytes()]);
        self.ledger.insert(key, &amount.to_be_bytes()[..])?;
        Ok(())
    }

    pub fn transfer(&self, apply_no: &str) -> TxResult<Option<TransferRequest>> {
        match self.transfers.get(self.store.key(&[apply_no.as_bytes()]))? {
            Some(v) => codec(decode(&v)).map(Some),
            None => Ok(None),
        }
    }

    /// Stores a new transfer and indexes it by account and creation date. An apply number
    /// that already names a transfer aborts the write.
    pub fn insert_transfer(&self, t: &TransferRequest) -> TxResult<()> {
        insert_new(
            self.transfers,
            self.store.key(&[t.apply_no.as_bytes()]),
            codec(encode(t))?,
            "transfer",
        )?;
        let created = t.created_at.to_zoned(crate::clock::jst()).date();
        let idx = self
            .store
            .key(&[t.account_id.as_bytes(), &date_bytes(created), t.apply_no.as_bytes()]);
        self.transfer_index.insert(idx, &[][..])?;
        Ok(())
    }

    /// Stores a new state of an existing transfer (its index entry does not change).
    pub fn update_transfer(&self, t: &TransferRequest) -> TxResult<()> {
        self.transfers
            .insert(self.store.key(&[t.apply_no.as_bytes()]), codec(encode(t))?)?;
        Ok(())
    }

    /// The transfer created by an earlier request with this client's and user's idempotency
    /// key: (apply number, request fingerprint).
    pub fn idempotent_transfer(&self, client_id: &str, user_id: &str, key: &str) -> TxResult<Option<(String, String)>> {
        if !self.store.key_may_exist_loaded(client_id, user_id, key) {
            return Ok(None);
        }
        let k = self
            .store
            .key(&[b"~idem", client_id.as_bytes(), user_id.as_bytes(), key.as_bytes()]);
        match self.transfer_index.get(k)? {
            Some(v) => codec(decode(&v)).map(Some),
            None => Ok(None),
        }
    }

    /// Ties an idempotency key to the transfer it created, in the same atomic write.
    pub fn put_idempotent_transfer(
        &self,
        client_id: &str,
        user_id: &str,
        key: &str,
        apply_no: &str,
        fingerprint: &str,
    ) -> TxResult<()> {
        let k = self
            .store
            .key(&[b"~idem", client_id.as_bytes(), user_id.as_bytes(), key.as_bytes()]);
        let v = codec(encode(&(apply_no.to_owned(), fingerprint.to_owned())))?;
        // Known before the write commits: a later check of the key then reads storage.
        let hash = self.store.idempotency_key_hash(client_id, user_id, key);
        self.store.storage.known_keys.note(hash);
        self.transfer_index.insert(k, v)?;
        Ok(())
    }

    /// Runs `apply_no` when the clock reaches `at`.
    pub fn schedule(&self, at: Timestamp, apply_no: &str) -> TxResult<()> {
        let key = self.store.key(&[&schedule_time(at), apply_no.as_bytes()]);
        self.schedule.insert(key, &[][..])?;
        Ok(())
    }

    pub fn unschedule(&self, at: Timestamp, apply_no: &str) -> TxResult<()> {
        self.schedule
            .remove(self.store.key(&[&schedule_time(at), apply_no.as_bytes()]))?;
        Ok(())
    }

    /// Adds an event to this write's part of the outbox.
    pub fn insert_event(&self, e: Event) {
        self.events.borrow_mut().push(e);
    }

    /// Stores this write's events in chunks, each under its first sequence number: one
    /// record per few events instead of one each (a transfer makes four), which is most of
    /// the outbox's share of a transfer write.
    fn write_outbox(&self) -> TxResult<()> {
        for chunk in self.events.borrow().chunks(OUTBOX_CHUNK) {
            insert_new(
                self.outbox,
                self.store.key(&[&chunk[0].seq.to_be_bytes()]),
                codec(encode(&chunk))?,
                "event",
            )?;
        }
        Ok(())
    }

    pub fn insert_notification(&self, n: &Notification) -> TxResult<()> {
        let key = self.store.key(&[n.customer_id.as_bytes(), &n.id.to_be_bytes()]);
        insert_new(self.notifications, key, codec(encode(n))?, "notification")
    }

    pub fn mandate(&self, id: &str) -> TxResult<Option<crate::domain::debit::Mandate>> {
        match self.mandates.get(self.store.key(&[id.as_bytes()]))? {
            Some(v) => codec(decode(&v)).map(Some),
            None => Ok(None),
        }
    }

    /// Stores a new mandate; an id that already names one aborts the write.
    pub fn insert_mandate(&self, m: &crate::domain::debit::Mandate) -> TxResult<()> {
        insert_new(
            self.mandates,
            self.store.key(&[m.id.as_bytes()]),
            codec(encode(m))?,
            "mandate",
        )
    }

    /// Stores a new state of an existing mandate.
    pub fn update_mandate(&self, m: &crate::domain::debit::Mandate) -> TxResult<()> {
        self.mandates
            .insert(self.store.key(&[m.id.as_bytes()]), codec(encode(m))?)?;
        Ok(())
    }

    pub fn grant(&self, id: &str) -> TxResult<Option<crate::domain::consent::Grant>> {
        match self.grants.get(self.store.key(&[id.as_bytes()]))? {
            Some(v) => codec(decode(&v)).map(Some),
            None => Ok(None),
        }
    }

    pub fn put_grant(&self, g: &crate::domain::consent::Grant) -> TxResult<()> {
        self.grant_touched.store(true, std::sync::atomic::Ordering::Relaxed);
        self.grants
            .insert(self.store.key(&[g.id.as_bytes()]), codec(encode(g))?)?;
        Ok(())
    }

    /// The next value of one of the sandbox's counters. The counter lives in the sandbox's
    /// own data and moves inside this transaction, so a number is never handed out twice,
    /// whatever the number of restarts, and numbers follow commit order (two writers that
    /// both take a number conflict and one is retried after the other).
    pub fn next(&self, counter: Counter) -> TxResult<u64> {
        let key = self.store.key(&[b"~counter", counter.name()]);
        let current = match self.meta.get(&key)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
                TxFailure(ConflictableTransactionError::Abort(TxAbort::Codec(
                    "a stored counter is not 8 bytes".into(),
                )))
            })?),
            None => 0,
        };
        let next = current + 1;
        self.meta.insert(key, &next.to_be_bytes()[..])?;
        Ok(next)
    }
}

/// Scheduled instants as sortable bytes (nanoseconds since the epoch, offset to be unsigned).
fn schedule_time(at: Timestamp) -> [u8; 16] {
    ((at.as_nanosecond() as u128) ^ (1u128 << 127)).to_be_bytes()
}

impl SandboxStore {
    /// Runs `f` atomically over the money trees; `f` may be retried on conflict.
    pub fn atomically<T, E: Send + 'static>(
        &self,
        f: impl Fn(&LedgerTx<'_>) -> TxResult<T>,
    ) -> std::result::Result<T, TxError<E>> {
        let st = &self.storage;
        let grant_touched = std::sync::atomic::AtomicBool::new(false);
        let accounts_written = std::cell::RefCell::new(std::collections::HashMap::new());
        let events = std::cell::RefCell::new(Vec::new());
        // Atomic writes are serialized anyway (sled holds its global lock for a whole
        // transaction); this lock also covers updating the account cache, in commit order.
        let _in_order = st.commit_order.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let engine = st.engine().map_err(TxError::Storage)?;
        let trees = (
            &engine.accounts,
            &engine.postings,
            &engine.ledger,
            &engine.transfers,
            &engine.transfer_index,
            &engine.schedule,
            &engine.outbox,
            &engine.notifications,
            &engine.mandates,
            &engine.meta,
            &engine.grants,
        );
        let result = trees.transaction(
            |(
                accounts,
                transactions,
                ledger,
                transfers,
                transfer_index,
                schedule,
                outbox,
                notifications,
                mandates,
                meta,
                grants,
            )| {
                // A retried attempt starts over.
                accounts_written.borrow_mut().clear();
                events.borrow_mut().clear();
                let tx = LedgerTx {
                    store: self,
                    accounts,
                    transactions,
                    ledger,
                    transfers,
                    transfer_index,
                    schedule,
                    outbox,
                    events: &events,
                    notifications,
                    mandates,
                    meta,
                    grants,
                    grant_touched: &grant_touched,
                    accounts_written: &accounts_written,
                };
                let v = f(&tx).map_err(|e| e.0)?;
                tx.write_outbox().map_err(|e| e.0)?;
                Ok(v)
            },
        );
        match result {
            Ok(v) => {
                for a in accounts_written.into_inner().into_values() {
                    st.account_cache
                        .put(self.key(&[a.id.as_bytes()]), std::sync::Arc::new(a));
                }
                if grant_touched.load(std::sync::atomic::Ordering::Relaxed) {
                    self.grant_written();
                }
                self.signals.outbox.notify_one();
                Ok(v)
            }
            Err(TransactionError::Abort(TxAbort::Caller(e))) => match e.downcast::<E>() {
                Ok(e) => Err(TxError::Abort(*e)),
                Err(_) => Err(TxError::Storage(StorageError::Codec("unexpected abort type".into()))),
            },
            Err(TransactionError::Abort(TxAbort::Codec(e))) => Err(TxError::Storage(StorageError::Codec(e))),
            Err(TransactionError::Storage(e)) => Err(TxError::Storage(e.into())),
        }
    }

    /// The transfer an idempotency key made and the request's fingerprint, read outside any
    /// transaction (the writer checks again inside its own).
    pub fn idempotent_transfer(&self, client_id: &str, user_id: &str, key: &str) -> Result<Option<(String, String)>> {
        if !self.key_may_exist(client_id, user_id, key) {
            return Ok(None);
        }
        let k = self.key(&[b"~idem", client_id.as_bytes(), user_id.as_bytes(), key.as_bytes()]);
        self.get(&self.storage.engine()?.transfer_index, &k)
    }

    pub fn transfer(&self, apply_no: &str) -> Result<Option<TransferRequest>> {
        self.get(&self.storage.engine()?.transfers, &self.key(&[apply_no.as_bytes()]))
    }

    /// Apply numbers of transfers from `account_id` created `from..=to`, in order, starting
    /// after `after` when given; at most `limit` (plus whether more remain).
    pub fn transfers_of(
        &self,
        account_id: &str,
        from: Date,
        to: Date,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, bool)> {
        let lo = self.key(&[account_id.as_bytes(), &date_bytes(from)]);
        let hi = self.key(&[account_id.as_bytes(), &date_bytes(to.tomorrow().unwrap_or(to))]);
        let mut out = Vec::new();
        for kv in self.storage.engine()?.transfer_index.range(lo..hi) {
            let (k, _) = kv?;
            let apply_no = String::from_utf8_lossy(&k[k.len() - 16..]).into_owned();
            if after.is_some_and(|a| apply_no.as_str() <= a) {
                continue;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(apply_no);
        }
        Ok((out, false))
    }

    /// Scheduled apply numbers due at or before `now`, earliest first, with their instants.
    pub fn due(&self, now: Timestamp) -> Result<Vec<(Timestamp, String)>> {
        let lo = self.key(&[b""]);
        let hi = self.key(&[&schedule_time(now), &[0xff]]);
        let mut out = Vec::new();
        for kv in self.storage.engine()?.schedule.range(lo..hi) {
            let (k, _) = kv?;
            let rest = &k[self.prefix.len()..];
            if rest.len() < 17 {
                continue;
            }
            let mut t = [0u8; 16];
            t.copy_from_slice(&rest[..16]);
            let nanos = (u128::from_be_bytes(t) ^ (1u128 << 127)) as i128;
            let at = Timestamp::from_nanosecond(nanos).unwrap_or(now);
            out.push((at, String::from_utf8_lossy(&rest[17..]).into_owned()));
        }
        Ok(out)
    }

    /// Balance of every system ledger account (fee income, clearing per bank, suspense, external).
    pub fn system_balances(&self) -> Result<Vec<(String, i64)>> {
        let mut out: Vec<(String, i64)> = Vec::new();
        for kv in self.storage.engine()?.ledger.scan_prefix(&*self.prefix) {
            let (k, v) = kv?;
            let rest = &k[self.prefix.len()..];
            let name_end = rest.len().saturating_sub(9);
            let name = String::from_utf8_lossy(&rest[..name_end]).into_owned();
            let amount = i64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| StorageError::Codec("posting".into()))?,
            );
            match out.last_mut() {
                Some((n, total)) if *n == name => *total += amount,
                _ => out.push((name, amount)),
            }
        }
        Ok(out)
    }

    /// Sum of every customer account balance, the number of accounts, and those below their
    /// overdraft limit.
    pub fn customer_balance_summary(&self) -> Result<(i64, u64, Vec<String>)> {
        let mut total = 0i64;
        let mut count = 0u64;
        let mut below = Vec::new();
        for kv in self.storage.engine()?.accounts.scan_prefix(&*self.prefix) {
            let a: Account = decode(&kv?.1)?;
            total += a.balance.0;
            count += 1;
            if a.balance.0 < -a.overdraft_limit.0 {
                below.push(a.id);
            }
        }
        Ok((total, count, below))
    }

    /// The customer's notifications, newest first.
    pub fn notifications(&self, customer_id: &str, limit: usize) -> Result<Vec<Notification>> {
        let prefix = self.key(&[customer_id.as_bytes(), b""]);
        let mut out = Vec::new();
        for kv in self
            .storage
            .engine()?
            .notifications
            .scan_prefix(&prefix)
            .rev()
            .take(limit)
        {
            out.push(decode(&kv?.1)?);
        }
        Ok(out)
    }

    /// Events with a sequence number greater than `after`, in sequence (= commit) order.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        let first = after.saturating_add(1);
        let start = match self.outbox_chunk_holding(first)? {
            Some((k, _)) => k.to_vec(),
            None => self.key(&[&first.to_be_bytes()]),
        };
        let hi = self.key(&[&u64::MAX.to_be_bytes()]);
        let mut out = Vec::new();
        for kv in self.storage.engine()?.outbox.range(start..hi) {
            let chunk: Vec<Event> = decode(&kv?.1)?;
            for e in chunk.into_iter().filter(|e| e.seq > after) {
                if out.len() == limit {
                    return Ok(out);
                }
                out.push(e);
            }
        }
        Ok(out)
    }

    /// The outbox record whose chunk would hold `seq`: the last one starting at or before it.
    fn outbox_chunk_holding(&self, seq: u64) -> Result<Option<(sled::IVec, sled::IVec)>> {
        let lo = self.key(&[&0u64.to_be_bytes()]);
        let hi = self.key(&[&seq.to_be_bytes()]);
        Ok(self.storage.engine()?.outbox.range(lo..=hi).next_back().transpose()?)
    }

    /// One event of the outbox.
    pub fn event(&self, seq: u64) -> Result<Option<Event>> {
        let Some((_, v)) = self.outbox_chunk_holding(seq)? else {
            return Ok(None);
        };
        let chunk: Vec<Event> = decode(&v)?;
        Ok(chunk.into_iter().find(|e| e.seq == seq))
    }

    /// The last outbox sequence number written (0: none).
    pub fn events_head(&self) -> Result<u64> {
        let lo = self.key(&[&0u64.to_be_bytes()]);
        let hi = self.key(&[&u64::MAX.to_be_bytes()]);
        Ok(match self.storage.engine()?.outbox.range(lo..hi).next_back() {
            Some(kv) => {
                let chunk: Vec<Event> = decode(&kv?.1)?;
                chunk.last().map_or(0, |e| e.seq)
            }
            None => 0,
        })
    }
}

impl SandboxStore {
    pub fn mandate(&self, id: &str) -> Result<Option<crate::domain::debit::Mandate>> {
        self.get(&self.storage.engine()?.mandates, &self.key(&[id.as_bytes()]))
    }

    /// Mandates matching `keep`, oldest first.
    pub fn mandates(
        &self,
        keep: impl Fn(&crate::domain::debit::Mandate) -> bool,
    ) -> Result<Vec<crate::domain::debit::Mandate>> {
        let mut out = Vec::new();
        for kv in self.storage.engine()?.mandates.scan_prefix(&*self.prefix) {
            let m: crate::domain::debit::Mandate = decode(&kv?.1)?;
            if keep(&m) {
                out.push(m);
            }
        }
        out.sort_by_key(|m| m.created_at);
        Ok(out)
    }
}
