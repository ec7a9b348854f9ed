//! Application services: each orchestrates the domain core and the store for one use case, so
//! HTTP handlers only parse, call and map.

pub mod audit;
pub mod authorize;
pub mod client_auth;
pub mod code;
pub mod dpop;
pub mod keys;
pub mod maintenance;
pub mod manage;
pub mod refresh;
pub mod signin;
pub mod tokens;
