//! Time travel: the sandbox clock moved forward, with the scheduled work due on the way.

use crate::sandbox::Sandbox;
use crate::storage::registry::meta::CLOCK_OFFSET as META_CLOCK_OFFSET;
use jiff::{SignedDuration, Timestamp};

/// The duration of a clock advance as a user writes it ("P91D", "PT2H", "90s", "1h",
/// "30d"), or what is wrong with it: it must be positive and at most 20 years.
pub fn parse_advance(text: &str) -> Result<SignedDuration, String> {
    let by = crate::clock::parse_duration(text)?;
    if by <= SignedDuration::ZERO {
        return Err("the clock only moves forward; give a positive duration".into());
    }
    if by > SignedDuration::from_hours(24 * 365 * 20) {
        return Err("advance at most 20 years at a time".into());
    }
    Ok(by)
}

/// Moves the sandbox clock forward and makes the new time durable. Scheduled work due on
/// the way (scheduled transfers, settlements, approval deadlines) runs at its own instant:
/// the clock stops at each due time, runs what is due, and moves on.
pub async fn advance_clock(
    sandbox: &Sandbox,
    by: SignedDuration,
) -> Result<Timestamp, super::transfers::TransferError> {
    let target = sandbox.clock.now().saturating_add(by).unwrap_or(Timestamp::MAX);
    loop {
        let next = sandbox.store.due(target)?.into_iter().map(|(at, _)| at).min();
        match next {
            Some(at) => {
                sandbox.clock.advance_to(at);
                super::transfers::run_due(sandbox).await?;
            }
            None => break,
        }
    }
    let offset = sandbox.clock.advance_to(target);
    sandbox.store.meta_put(META_CLOCK_OFFSET, &offset.to_be_bytes())?;
    sandbox.store.flush().await?;
    sandbox.webhooks.clock_moved();
    Ok(sandbox.clock.now())
}
