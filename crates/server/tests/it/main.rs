//! One integration-test binary (one link), a module per area. Every test starts the real server
//! on port 0 with its own SQLite file and a manual clock.

mod support;

mod access_revocation;
mod admin_console;
mod api_permissions;
mod authorize;
mod brute_force;
mod cli;
mod connections;
mod dpop;
mod headers_protocol;
mod keys;
mod login;
mod logs;
mod m2m;
mod malformed;
mod management;
mod management_routes;
mod mgmt_client_grants;
mod mgmt_clients;
mod mgmt_refresh_tokens;
mod mgmt_resource_servers;
mod mgmt_sessions;
mod mgmt_users;
mod mrrt;
mod multinode;
mod oidc_client;
mod sessions;
mod signing_algs;
mod token;

// Refresh-token rotation (issue "part 2").
mod revocation;
mod rotation;
mod rotation_model;
mod storage;
