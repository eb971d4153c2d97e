//! End to end, over HTTP, against the local run started on random ports (one per test).

mod auditor;
mod bounds;
mod contention;
mod contract;
mod create;
mod desk;
mod evidence;
mod explain;
mod isolation;
mod lifecycle;
mod listing;
mod operator;
mod policy;
mod privacy;
mod relationships;
mod security;
mod webhooks;
mod witness;
