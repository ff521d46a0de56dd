//! cnpg-guard enforces the shared CloudNativePG cluster contract.
//!
//! One pipeline, three doors:
//!
//! ```text
//! bytes -> AdmissionReview -> Review -> rules(contract, facts) -> Report -> Decision -> response + decision record
//! manifests (check) ---------^                                               ^
//! live objects (audit) ------^                                               |
//! ```

#![forbid(unsafe_code)]

pub mod admission;
pub mod audit;
pub mod check;
pub mod cli;
pub mod contract;
pub mod decision;
pub mod decision_log;
pub mod dsn;
pub mod facts;
pub mod json_diff;
pub mod kube_client;
pub mod logging;
pub mod manifests;
pub mod model;
pub mod names;
pub mod onboard;
pub mod rules;
pub mod server;
