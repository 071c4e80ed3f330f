//! Writing a generated world in batches, and reading account history by date range.

use super::codec::{decode, encode};
use super::keys::{month_bytes, position_bytes};
use super::{Result, SandboxStore};
use crate::domain::account::Account;
use crate::domain::customer::CustomerWorld;
use crate::domain::transaction::Transaction;
use jiff::civil::Date;
use std::sync::Arc;

/// Collects generated customers and writes them a batch at a time.
pub struct WorldWriter<'a> {
    store: &'a SandboxStore,
    customers: sled::Batch,
    users: sled::Batch,
    accounts: sled::Batch,
    customer_accounts: sled::Batch,
    transactions: sled::Batch,
    pending: usize,
    /// Totals written so far: (customers, accounts, transactions).
    pub totals: (u64, u64, u64),
    /// Sum of all account balances written.
    pub balance_total: i64,
}

const BATCH_ITEMS: usize = 50_000;

impl<'a> WorldWriter<'a> {
    pub fn new(store: &'a SandboxStore) -> Self {
        WorldWriter {
            store,
            customers: Default::default(),
            users: Default::default(),
            accounts: Default::default(),
            customer_accounts: Default::default(),
            transactions: Default::default(),
            pending: 0,
            totals: (0, 0, 0),
            balance_total: 0,
        }
    }

    pub fn add(&mut self, g: &CustomerWorld) -> Result<()> {
        let s = self.store;
        self.customers
            .insert(s.key(&[g.customer.id.as_bytes()]), encode(&g.customer)?);
        for u in &g.users {
            self.users.insert(s.key(&[u.id.as_bytes()]), encode(u)?);
        }
        for (account, history) in &g.accounts {
            self.accounts.insert(s.key(&[account.id.as_bytes()]), encode(account)?);
            self.customer_accounts
                .insert(s.key(&[g.customer.id.as_bytes(), account.id.as_bytes()]), &[][..]);
            // History is kept as one chunk per account and month: far fewer keys than one
            // per entry, which keeps a 100,000-account build fast and small.
            for chunk in history.chunk_by(|a, b| month_bytes(a.date) == month_bytes(b.date)) {
                let key = s.key(&[account.id.as_bytes(), &month_bytes(chunk[0].date)]);
                self.transactions.insert(key, encode(&chunk)?);
                self.pending += 1;
            }
            self.pending += 1;
            self.balance_total += account.balance.0;
            self.totals.1 += 1;
            self.totals.2 += history.len() as u64;
        }
        self.totals.0 += 1;
        if self.pending >= BATCH_ITEMS {
            self.write()?;
        }
        Ok(())
    }

    fn write(&mut self) -> Result<()> {
        let st = self.store.storage.engine()?;
        st.transactions.apply_batch(std::mem::take(&mut self.transactions))?;
        st.customers.apply_batch(std::mem::take(&mut self.customers))?;
        st.users.apply_batch(std::mem::take(&mut self.users))?;
        st.accounts.apply_batch(std::mem::take(&mut self.accounts))?;
        st.customer_accounts
            .apply_batch(std::mem::take(&mut self.customer_accounts))?;
        self.store.forget_cached();
        // Dirty pages cannot be evicted from sled's cache until flushed; flushing per batch
        // keeps a large build's memory bounded.
        st.db.flush()?;
        self.pending = 0;
        Ok(())
    }

    /// Writes what is left; returns the totals and the sum of balances.
    pub fn finish(mut self) -> Result<((u64, u64, u64), i64)> {
        self.write()?;
        Ok((self.totals, self.balance_total))
    }
}

/// A page of history. Its entries stay in the shared chunks they were read from (a page of 50
/// would otherwise copy 50 entries and their texts).
pub struct HistoryPage {
    chunks: Vec<Arc<Vec<Transaction>>>,
    /// (chunk, index) of each entry, in order.
    picked: Vec<(u32, u32)>,
    /// Position (date, seq) of the first matching item after this page, if any.
    pub next: Option<(Date, u32)>,
}

impl HistoryPage {
    /// A page of these entries (for tests and callers that build one).
    pub fn of(items: Vec<Transaction>, next: Option<(Date, u32)>) -> Self {
        let picked = (0..items.len() as u32).map(|i| (0, i)).collect();
        HistoryPage {
            chunks: vec![Arc::new(items)],
            picked,
            next,
        }
    }

    pub fn len(&self) -> usize {
        self.picked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.picked.is_empty()
    }

    /// The entries, in order.
    pub fn items(&self) -> impl ExactSizeIterator<Item = &Transaction> {
        self.picked.iter().map(|&(c, i)| &self.chunks[c as usize][i as usize])
    }
}

impl SandboxStore {
    /// Transactions of `account_id` dated `from..=to`, starting at `start` (inclusive) when
    /// given, keeping those `keep` accepts, at most `limit`.
    pub fn history(
        &self,
        account_id: &str,
        from: Date,
        to: Date,
        start: Option<(Date, u32)>,
        limit: usize,
        keep: impl Fn(&Transaction) -> bool,
    ) -> Result<HistoryPage> {
        let first = start.map(|(d, _)| d).unwrap_or(from).max(from);
        let after_to = to.first_of_month().checked_add(jiff::ToSpan::months(1)).unwrap_or(to);
        let lo = self.key(&[account_id.as_bytes(), &month_bytes(first)]);
        let hi = self.key(&[account_id.as_bytes(), &month_bytes(after_to)]);
        let after_to = after_to.first_of_month();
        // Generated history (monthly chunks) is all dated before the clock start; entries
        // posted since live in their own tree (small values, so posting does not rewrite
        // pages full of chunks) and are all dated at or after it: chunks first, then postings.
        // Chunks never change once the world is built: decoded once, then shared, looked up
        // month by month (a month without a chunk is remembered as an empty one).
        let cache = &self.storage.history_cache;
        let chunk_of = |month: Date| -> Result<Arc<Vec<Transaction>>> {
            let k = self.key(&[account_id.as_bytes(), &month_bytes(month)]);
            if let Some(chunk) = cache.get(&k) {
                return Ok(chunk);
            }
            let generation = cache.generation();
            let chunk = Arc::new(match self.storage.engine()?.transactions.get(&k)? {
                Some(v) => decode::<Vec<Transaction>>(&v)?,
                None => Vec::new(),
            });
            cache.fill(k, chunk.clone(), generation);
            Ok(chunk)
        };
        let months = std::iter::successors(Some(first.first_of_month()), |m| {
            m.checked_add(jiff::ToSpan::months(1)).ok()
        })
        .take_while(|m| *m < after_to);
        let chunks = months.map(chunk_of);
        let posted = self
            .storage
            .engine()?
            .postings
            .range(lo..hi)
            .map(|kv| -> Result<Arc<Vec<Transaction>>> {
                let (_, v) = kv?;
                Ok(Arc::new(vec![decode(&v)?]))
            });
        let mut page = HistoryPage {
            chunks: Vec::new(),
            picked: Vec::new(),
            next: None,
        };
        for entries in chunks.chain(posted) {
            let entries = entries?;
            let chunk = page.chunks.len() as u32;
            let mut used = false;
            for (i, t) in entries.iter().enumerate() {
                if t.date < from || t.date > to || !keep(t) {
                    continue;
                }
                if let Some(s) = start
                    && position_bytes(t.date, t.seq) < position_bytes(s.0, s.1)
                {
                    continue;
                }
                if page.picked.len() == limit {
                    page.next = Some((t.date, t.seq));
                    break;
                }
                page.picked.push((chunk, i as u32));
                used = true;
            }
            if used {
                page.chunks.push(entries);
            }
            if page.next.is_some() {
                break;
            }
        }
        Ok(page)
    }
}

impl SandboxStore {
    /// Accounts in id order after `after`, at most `limit`, optionally of one customer.
    pub fn list_accounts(
        &self,
        customer_id: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Account>, bool)> {
        if let Some(c) = customer_id {
            let all = self.accounts_of(c)?;
            let rest: Vec<Account> = all
                .into_iter()
                .filter(|a| after.is_none_or(|x| a.id.as_str() > x))
                .collect();
            let more = rest.len() > limit;
            return Ok((rest.into_iter().take(limit).collect(), more));
        }
        let lo = match after {
            Some(a) => {
                let mut k = self.key(&[a.as_bytes()]);
                k.push(0);
                k
            }
            None => self.key(&[b""]),
        };
        let mut out = Vec::new();
        for kv in self.storage.engine()?.accounts.range(lo..) {
            let (k, v) = kv?;
            if !k.starts_with(&self.prefix) {
                break;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(decode(&v)?);
        }
        Ok((out, false))
    }
}
