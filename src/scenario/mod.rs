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
