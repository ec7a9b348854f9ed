//! The `ratchet` server: configuration, startup, the HTTP layer (`http`) and the application
//! services (`service`) that orchestrate the domain core and the store.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod demo;
pub mod error;
pub mod http;
pub mod keys;
pub mod service;

pub use app::{AppState, Application};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, DpopConfig};
