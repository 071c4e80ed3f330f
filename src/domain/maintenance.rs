//! Maintenance windows: planned service stops, one-off or recurring (every day or every given
//! weekday, in JST), covering all APIs, the update APIs, the authorization server or named
//! operations, and announced some time before they start. All times are sandbox time.

use crate::domain::fault::RequestKind;
use crate::domain::fault::{duration, timestamp};
use jiff::civil::{Date, Time, Weekday};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use utoipa::ToSchema;

/// A maintenance window as written in the scenario or posted to the control plane.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// The window's id (default: `maintenance-{n}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub id: Option<String>,
    /// What the bank tells connecting companies about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub description: Option<String>,
    /// A one-off window's start (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub start: Option<String>,
    /// A one-off window's end (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub end: Option<String>,
    /// A recurring window instead of `start`/`end`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::domain::fault::some_map"
    )]
    #[schema(nullable = false)]
    pub recurring: Option<Recurrence>,
    /// What it stops: `all` (default), `update`, `auth` (the authorization server: its pages
    /// and the token endpoint) or `operations` (those in `operations`).
    #[serde(default)]
    pub covers: Coverage,
    /// With `covers: operations`: "METHOD /route" as in the OpenAPI description.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<String>,
    /// When a one-off window is announced (RFC 3339). Default: at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub announce_at: Option<String>,
    /// How long before each start it is announced, e.g. "7d" (instead of `announceAt`;
    /// the way recurring windows are announced). Default: at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub notice: Option<String>,
}

/// A window that comes back every day or every week.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recurrence {
    /// `day`, or a weekday: `monday` … `sunday`.
    pub every: String,
    /// Start time of day, JST ("02:00").
    pub from: String,
    /// End time of day, JST ("06:00"); at or before `from` means the next day.
    pub to: String,
}

/// What a window stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Coverage {
    #[default]
    All,
    Update,
    Auth,
    Operations,
}

#[derive(Debug, Clone, PartialEq)]
enum Timing {
    Once {
        start: Timestamp,
        end: Timestamp,
        announce: Option<Timestamp>,
    },
    Every {
        weekday: Option<Weekday>,
        from: Time,
        length: SignedDuration,
    },
}

/// A window ready to be checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledWindow {
    pub id: String,
    pub spec: MaintenanceWindow,
    timing: Timing,
    notice: Option<SignedDuration>,
    operations: HashSet<String>,
}

/// One occurrence of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub start: Timestamp,
    pub end: Timestamp,
    /// When it is (or was) announced; `None`: from the moment the window exists.
    pub announced_at: Option<Timestamp>,
}

fn weekday(s: &str) -> Option<Option<Weekday>> {
    Some(Some(match s.to_ascii_lowercase().as_str() {
        "day" | "daily" => return Some(None),
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => return None,
    }))
}

fn time_of_day(field: &str, s: &str, problems: &mut Vec<String>) -> Option<Time> {
    match s.parse::<Time>() {
        Ok(t) => Some(t),
        Err(_) => {
            problems.push(format!("{field}: {s:?} is not a time of day like \"02:00\""));
            None
        }
    }
}

// Long on purpose: one check per field of a window, in the order its problems are reported.
/// Checks a window; `operation_exists` says which operations the API has.
pub fn compile(
    w: &MaintenanceWindow,
    id: &str,
    operation_exists: &dyn Fn(&str) -> bool,
) -> Result<CompiledWindow, Vec<String>> {
    let mut problems = Vec::new();
    let timing = match (&w.recurring, &w.start, &w.end) {
        (Some(r), None, None) => {
            let day = weekday(&r.every);
            if day.is_none() {
                problems.push(format!(
                    "recurring.every: {:?} is not \"day\" or a weekday (\"sunday\")",
                    r.every
                ));
            }
            let from = time_of_day("recurring.from", &r.from, &mut problems);
            let to = time_of_day("recurring.to", &r.to, &mut problems);
            if w.announce_at.is_some() {
                problems.push("announceAt: a recurring window is announced by `notice` (e.g. \"7d\")".into());
            }
            match (day, from, to) {
                (Some(weekday), Some(from), Some(to)) => {
                    let mut length = to.duration_since(from);
                    if length <= SignedDuration::ZERO {
                        length += SignedDuration::from_hours(24);
                    }
                    Some(Timing::Every { weekday, from, length })
                }
                _ => None,
            }
        }
        (None, Some(start), Some(end)) => {
            let s = timestamp("start", start, &mut problems);
            let e = timestamp("end", end, &mut problems);
            let announce = w
                .announce_at
                .as_deref()
                .and_then(|a| timestamp("announceAt", a, &mut problems));
            if w.announce_at.is_some() && w.notice.is_some() {
                problems.push("notice: give announceAt or notice, not both".into());
            }
            match (s, e) {
                (Some(start), Some(end)) if end > start => Some(Timing::Once { start, end, announce }),
                (Some(_), Some(_)) => {
                    problems.push("end: must be after start".into());
                    None
                }
                _ => None,
            }
        }
        (Some(_), _, _) => {
            problems.push("recurring: give either recurring or start and end, not both".into());
            None
        }
        _ => {
            problems.push("start: a window needs start and end (RFC 3339), or recurring".into());
            None
        }
    };
    let notice = w
        .notice
        .as_deref()
        .and_then(|n| duration("notice", n, &mut problems))
        .filter(|d| {
            let ok = *d <= SignedDuration::from_hours(24 * 366);
            if !ok {
                problems.push("notice: at most a year (\"366d\")".into());
            }
            ok
        });
    let operations: HashSet<String> = w.operations.iter().cloned().collect();
    match w.covers {
        Coverage::Operations if operations.is_empty() => {
            problems.push("operations: covers: operations needs at least one operation".into())
        }
        Coverage::Operations => {
            for op in &operations {
                if !operation_exists(op) {
                    problems.push(format!(
                        "operations: {op:?} is not an API operation (write \"METHOD /route\" as in the OpenAPI description)"
                    ));
                }
            }
        }
        _ if !operations.is_empty() => {
            problems.push("operations: only with covers: operations".into());
        }
        _ => {}
    }
    if id.is_empty() || id.len() > 64 {
        problems.push("id: 1–64 characters".into());
    }
    match timing {
        Some(timing) if problems.is_empty() => Ok(CompiledWindow {
            id: id.to_owned(),
            spec: MaintenanceWindow {
                id: Some(id.to_owned()),
                ..w.clone()
            },
            timing,
            notice,
            operations,
        }),
        _ => Err(problems),
    }
}

impl CompiledWindow {
    /// Whether a request of this kind to this operation (method and route template) is
    /// stopped by the window.
    pub fn covers(&self, kind: RequestKind, method: &str, route: &str) -> bool {
        match self.spec.covers {
            Coverage::All => true,
            Coverage::Update => kind == RequestKind::Update,
            Coverage::Auth => matches!(kind, RequestKind::Auth | RequestKind::Token),
            Coverage::Operations => self.operations.contains(&format!("{method} {route}")),
        }
    }

    fn announced(&self, start: Timestamp, explicit: Option<Timestamp>) -> Option<Timestamp> {
        explicit.or_else(|| self.notice.map(|n| start - n))
    }

    /// The occurrence running at `now`, if any.
    pub fn current(&self, now: Timestamp) -> Option<Occurrence> {
        self.occurrences(now - SignedDuration::from_hours(48), now + SignedDuration::from_secs(1))
            .into_iter()
            .find(|o| o.start <= now && now < o.end)
    }

    /// Occurrences that end after `from` and start before `until`, in order.
    pub fn occurrences(&self, from: Timestamp, until: Timestamp) -> Vec<Occurrence> {
        match self.timing {
            Timing::Once { start, end, announce } => {
                if end > from && start < until {
                    vec![Occurrence {
                        start,
                        end,
                        announced_at: self.announced(start, announce),
                    }]
                } else {
                    vec![]
                }
            }
            Timing::Every {
                weekday,
                from: at,
                length,
            } => {
                let tz = crate::clock::jst();
                let first: Date = (from - length).to_zoned(tz.clone()).date();
                let mut out = Vec::new();
                let mut day = first;
                while out.len() < 64 {
                    let Ok(start) = day.to_datetime(at).to_zoned(tz.clone()).map(|z| z.timestamp()) else {
                        break;
                    };
                    if start >= until {
                        break;
                    }
                    let end = start + length;
                    if weekday.is_none_or(|w| day.weekday() == w) && end > from {
                        out.push(Occurrence {
                            start,
                            end,
                            announced_at: self.announced(start, None),
                        });
                    }
                    let Ok(next) = day.tomorrow() else { break };
                    day = next;
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(_: &str) -> bool {
        true
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_weekly_window_runs_on_its_weekday_only() {
        let w = MaintenanceWindow {
            recurring: Some(Recurrence {
                every: "sunday".into(),
                from: "02:00".into(),
                to: "06:00".into(),
            }),
            notice: Some("7d".into()),
            ..Default::default()
        };
        let c = compile(&w, "sunday-night", &any).unwrap();
        // 2026-11-22 is a Sunday.
        let inside = ts("2026-11-22T03:00:00+09:00");
        let o = c.current(inside).unwrap();
        assert_eq!(o.start, ts("2026-11-22T02:00:00+09:00"));
        assert_eq!(o.end, ts("2026-11-22T06:00:00+09:00"));
        assert_eq!(o.announced_at, Some(ts("2026-11-15T02:00:00+09:00")));
        assert!(c.current(ts("2026-11-22T06:00:00+09:00")).is_none());
        assert!(c.current(ts("2026-11-23T03:00:00+09:00")).is_none());
        let next = c.occurrences(ts("2026-11-22T07:00:00+09:00"), ts("2026-12-01T00:00:00+09:00"));
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].start, ts("2026-11-29T02:00:00+09:00"));
    }

    #[test]
    fn an_overnight_daily_window_crosses_midnight() {
        let w = MaintenanceWindow {
            recurring: Some(Recurrence {
                every: "day".into(),
                from: "23:30".into(),
                to: "00:30".into(),
            }),
            covers: Coverage::Update,
            ..Default::default()
        };
        let c = compile(&w, "nightly", &any).unwrap();
        let o = c.current(ts("2026-11-23T00:10:00+09:00")).unwrap();
        assert_eq!(o.start, ts("2026-11-22T23:30:00+09:00"));
        assert!(c.covers(RequestKind::Update, "POST", "/x"));
        assert!(!c.covers(RequestKind::Reference, "GET", "/x"));
    }

    #[test]
    fn bad_windows_say_what_to_fix() {
        let w = MaintenanceWindow {
            start: Some("2026-11-23T05:00:00+09:00".into()),
            end: Some("2026-11-23T04:00:00+09:00".into()),
            covers: Coverage::Operations,
            ..Default::default()
        };
        let p = compile(&w, "x", &any).unwrap_err().join("\n");
        assert!(p.contains("end: must be after start"), "{p}");
        assert!(p.contains("operations: covers: operations needs"), "{p}");
        let far = MaintenanceWindow {
            recurring: Some(Recurrence {
                every: "day".into(),
                from: "01:00".into(),
                to: "02:00".into(),
            }),
            notice: Some("7000000d".into()),
            ..Default::default()
        };
        let p = compile(&far, "far", &any).unwrap_err().join("\n");
        assert!(p.contains("notice: at most a year"), "{p}");
    }
}
