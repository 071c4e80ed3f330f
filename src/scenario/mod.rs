//! Scenarios: the YAML description of a sandbox world (`schema`), loading it with clear,
//! located errors (`load`), and turning it deterministically into customers, accounts and
//! history (`generate`, with the name dictionary in `names`).

pub mod generate;
pub mod load;
pub mod names;
pub mod schema;

pub use load::{LoadedScenario, ScenarioError, load_file, load_str};

/// The scenario compiled into the binary and used when no `--scenario` is given.
pub const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/default.yaml");

/// The built-in catalogue: scenarios a sandbox can be created from by name
/// (`POST /operator/v1/sandboxes {"scenario": "default"}`), the embedded files in scenarios/.
pub const CATALOGUE: &[(&str, &str)] = &[
    ("default", DEFAULT_SCENARIO),
    ("large", include_str!("../../scenarios/large.yaml")),
];

/// A catalogue scenario's source by name.
pub fn catalogue(name: &str) -> Option<&'static str> {
    CATALOGUE.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
