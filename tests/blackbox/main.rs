//! Black-box tests of scimd: every test starts the real binary (through
//! `harness`) on `127.0.0.1:0` with its own temporary database and checks one
//! behaviour over HTTPS or through the CLI. One test binary made of modules,
//! so the crate is linked once. Nothing here imports scimd's code.

mod harness;

mod auth;
mod bodies;
mod cli;
mod deep_paging;
mod discovery;
mod edge;
mod errors;
mod faults;
mod feed;
mod groups;
mod hostile;
mod idp;
mod interop;
mod isolation;
mod lifecycle;
mod observability;
mod operations;
mod outputs;
mod queries;
mod seeds;
mod users;
mod webhooks;
