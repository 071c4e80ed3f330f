//! Capacity policies: the named limits a bank states for each connecting company and for
//! itself as a whole — a rate with a burst over a short real-time window, a quota per
//! sandbox-calendar day or month, or a number of concurrent requests — each optionally for one
//! kind of operation, and what changes on peak days (a factor on the limits, added latency).

use crate::domain::fault::RequestKind;
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Most limits one policy holds.
pub const MAX_LIMITS: usize = 20;

/// A capacity policy: named limits, and what peak days change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapacityPolicy {
    /// The limits; a request must fit every limit that applies to it.
    #[serde(default, deserialize_with = "crate::domain::fault::seq_of_maps")]
    pub limits: Vec<Limit>,
    /// What changes on peak days (五十日, paydays, month-end, listed days; see
    /// `GET /public/v1/calendar`). Absent: nothing changes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::domain::fault::some_map"
    )]
    #[schema(nullable = false)]
    pub peak: Option<PeakEffect>,
}

/// One named limit: exactly one of `rate`, `quota` or `concurrency`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Limit {
    /// The limit's name, shown in 429 answers and the `RateLimit` fields (letters, digits,
    /// `-`, `_`, `.`).
    pub name: String,
    /// The kind of operation it counts: `reference`, `update`, `token` or `any` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub kind: Option<LimitKind>,
    /// Requests allowed per `per` (a real-time window: "1s", "1m", "1h"), refilled evenly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rate: Option<u32>,
    /// Requests allowed per sandbox-calendar day (`per: "1d"`) or month (`per: "1mo"`);
    /// the count starts again at midnight (JST) of the sandbox clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub quota: Option<u64>,
    /// Requests allowed to run at the same time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub concurrency: Option<u32>,
    /// The window of a `rate` or a `quota`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub per: Option<String>,
    /// For a `rate`: how many requests may come at once after a quiet spell (default: `rate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub burst: Option<u32>,
}

/// The kind of operation a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LimitKind {
    /// Reference APIs (GET under `/personal`, `/corporation` and `/public`).
    Reference,
    /// Update APIs (transfers, debits, cancels).
    Update,
    /// The token endpoint.
    Token,
    /// Authorization requests (`GET /oauth/authorize`, charged to the client it names: a
    /// flood of them for one client stops at its limit) and `/oauth/userinfo`.
    Auth,
    /// Every reference, update and token call (not `auth`: count those with an `auth` limit).
    Any,
}

/// What a policy changes on peak days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeakEffect {
    /// Every rate, burst, quota and concurrency is multiplied by this (0.5 halves them on a
    /// peak day; 2 doubles them). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub factor: Option<f64>,
    /// Latency added to every call the policy covers on a peak day, e.g. "300ms".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub latency: Option<String>,
}

/// A quota's window on the sandbox calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaWindow {
    Day,
    Month,
}

/// What a checked limit counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// `count` per `per` of real time, up to `burst` at once.
    Rate {
        count: u32,
        per: SignedDuration,
        burst: u32,
    },
    /// `count` per sandbox day or month.
    Quota { count: u64, window: QuotaWindow },
    /// `count` at the same time.
    Concurrency(u32),
}

/// A limit ready to be enforced.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledLimit {
    pub name: std::sync::Arc<str>,
    pub kind: LimitKind,
    pub shape: Shape,
}

impl CompiledLimit {
    /// Whether the limit counts a request of this kind (of the `auth` kind, the policy layer
    /// passes only authorization requests and userinfo; the other pages are never counted).
    pub fn applies_to(&self, kind: RequestKind) -> bool {
        match (self.kind, kind) {
            (LimitKind::Auth, RequestKind::Auth) => true,
            (_, RequestKind::Auth | RequestKind::Any) => false,
            (LimitKind::Any, _) => true,
            (LimitKind::Reference, RequestKind::Reference) => true,
            (LimitKind::Update, RequestKind::Update) => true,
            (LimitKind::Token, RequestKind::Token) => true,
            _ => false,
        }
    }

    /// The limit scaled by a peak-day factor (never below 1).
    pub fn scaled(&self, factor: f64) -> Shape {
        let scale32 = |n: u32| ((n as f64 * factor).round() as u32).max(1);
        match self.shape {
            Shape::Rate { count, per, burst } => Shape::Rate {
                count: scale32(count),
                per,
                burst: scale32(burst),
            },
            Shape::Quota { count, window } => Shape::Quota {
                count: ((count as f64 * factor).round() as u64).max(1),
                window,
            },
            Shape::Concurrency(n) => Shape::Concurrency(scale32(n)),
        }
    }
}

/// A policy ready to be enforced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompiledPolicy {
    pub limits: Vec<CompiledLimit>,
    pub peak_factor: f64,
    pub peak_latency: SignedDuration,
}

impl CompiledPolicy {
    /// Whether the policy does anything at all.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.peak_latency == SignedDuration::ZERO
    }
}

fn good_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

// Long on purpose: one check per field of a policy, in the order its problems are reported.
/// Checks a policy; the problems are `field: what to fix`.
pub fn compile(p: &CapacityPolicy) -> Result<CompiledPolicy, Vec<String>> {
    let mut problems = Vec::new();
    if p.limits.len() > MAX_LIMITS {
        problems.push(format!("limits: at most {MAX_LIMITS} limits per policy"));
    }
    let mut names = std::collections::HashSet::new();
    let mut limits = Vec::new();
    for (i, l) in p.limits.iter().enumerate() {
        let f = |field: &str| format!("limits[{i}].{field}");
        if !good_name(&l.name) {
            problems.push(format!(
                "{}: {:?} must be 1–64 letters, digits, '-', '_' or '.'",
                f("name"),
                l.name
            ));
        } else if !names.insert(l.name.clone()) {
            problems.push(format!("{}: {:?} is used twice", f("name"), l.name));
        }
        let given = [l.rate.is_some(), l.quota.is_some(), l.concurrency.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if given != 1 {
            problems.push(format!(
                "{}: give exactly one of rate, quota or concurrency",
                format_args!("limits[{i}]")
            ));
            continue;
        }
        if l.burst.is_some() && l.rate.is_none() {
            problems.push(format!("{}: burst goes with a rate", f("burst")));
        }
        let shape = if let Some(rate) = l.rate {
            let per = match l.per.as_deref() {
                None => {
                    problems.push(format!("{}: a rate needs a window, e.g. \"1s\" or \"1m\"", f("per")));
                    None
                }
                Some(s) => match crate::clock::parse_duration(s) {
                    Ok(d) if d >= SignedDuration::from_millis(1) && d <= SignedDuration::from_hours(24) => Some(d),
                    Ok(_) => {
                        problems.push(format!(
                            "{}: {s:?}: a rate's window is between 1ms and 24h (use a quota for days and months)",
                            f("per")
                        ));
                        None
                    }
                    Err(e) => {
                        problems.push(format!("{}: {e}", f("per")));
                        None
                    }
                },
            };
            if rate == 0 {
                problems.push(format!("{}: must be at least 1", f("rate")));
            }
            if l.burst == Some(0) {
                problems.push(format!("{}: must be at least 1", f("burst")));
            }
            per.map(|per| Shape::Rate {
                count: rate.max(1),
                per,
                burst: l.burst.unwrap_or(rate).max(1),
            })
        } else if let Some(quota) = l.quota {
            if quota == 0 {
                problems.push(format!("{}: must be at least 1", f("quota")));
            }
            let window = match l.per.as_deref() {
                Some("1d" | "day") => Some(QuotaWindow::Day),
                Some("1mo" | "month") => Some(QuotaWindow::Month),
                other => {
                    problems.push(format!(
                        "{}: a quota counts per sandbox day (\"1d\") or month (\"1mo\"), not {other:?}",
                        f("per")
                    ));
                    None
                }
            };
            window.map(|window| Shape::Quota {
                count: quota.max(1),
                window,
            })
        } else {
            let n = l.concurrency.unwrap_or(0);
            if n == 0 {
                problems.push(format!("{}: must be at least 1", f("concurrency")));
            }
            if l.per.is_some() {
                problems.push(format!("{}: a concurrency limit has no window", f("per")));
            }
            Some(Shape::Concurrency(n.max(1)))
        };
        if let Some(shape) = shape {
            limits.push(CompiledLimit {
                name: l.name.as_str().into(),
                kind: l.kind.unwrap_or(LimitKind::Any),
                shape,
            });
        }
    }
    let mut peak_factor = 1.0;
    let mut peak_latency = SignedDuration::ZERO;
    if let Some(peak) = &p.peak {
        if let Some(factor) = peak.factor {
            if factor.is_finite() && factor > 0.0 && factor <= 100.0 {
                peak_factor = factor;
            } else {
                problems.push(format!("peak.factor: {factor} must be above 0 and at most 100"));
            }
        }
        if let Some(latency) = &peak.latency
            && let Some(d) = crate::domain::fault::duration("peak.latency", latency, &mut problems)
        {
            if d > SignedDuration::from_secs(60) {
                problems.push(format!("peak.latency: {latency:?} is more than 60s"));
            } else {
                peak_latency = d;
            }
        }
    }
    if problems.is_empty() {
        Ok(CompiledPolicy {
            limits,
            peak_factor,
            peak_latency,
        })
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(name: &str) -> Limit {
        Limit {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_contract_example_compiles() {
        let p: CapacityPolicy = serde_json::from_str(
            r#"{"limits": [{"name": "reads", "kind": "reference", "rate": 10, "per": "1s", "burst": 20},
                {"name": "transfers-daily", "kind": "update", "quota": 100, "per": "1d"},
                {"name": "concurrent-updates", "kind": "update", "concurrency": 3}]}"#,
        )
        .unwrap();
        let c = compile(&p).unwrap();
        assert_eq!(c.limits.len(), 3);
        assert_eq!(
            c.limits[0].shape,
            Shape::Rate {
                count: 10,
                per: SignedDuration::from_secs(1),
                burst: 20
            }
        );
        assert!(c.limits[0].applies_to(RequestKind::Reference));
        assert!(!c.limits[0].applies_to(RequestKind::Update));
    }

    #[test]
    fn bad_limits_say_what_to_fix() {
        let mut both = limit("x");
        both.rate = Some(1);
        both.quota = Some(1);
        let mut no_window = limit("y");
        no_window.rate = Some(5);
        let mut month = limit("z");
        month.quota = Some(5);
        month.per = Some("1w".into());
        let p = CapacityPolicy {
            limits: vec![both, no_window, month, limit("bad name")],
            peak: Some(PeakEffect {
                factor: Some(0.0),
                latency: None,
            }),
        };
        let problems = compile(&p).unwrap_err().join("\n");
        assert!(problems.contains("limits[0]: give exactly one"), "{problems}");
        assert!(problems.contains("limits[1].per: a rate needs a window"), "{problems}");
        assert!(
            problems.contains("limits[2].per: a quota counts per sandbox day"),
            "{problems}"
        );
        assert!(problems.contains("limits[3].name"), "{problems}");
        assert!(problems.contains("peak.factor"), "{problems}");
    }
}
