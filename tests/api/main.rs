//! One test binary for the whole API, so it is compiled and linked once.

mod helpers;
mod instances;

mod activity_log;
mod bad_input;
mod cli;
mod core;
mod counts;
mod dashboard;
mod database;
mod dataloader;
mod distinct;
mod fanout;
mod feed;
mod filters;
mod frontends;
mod graphiql;
mod health;
mod http_protocol;
mod live_faults;
mod log_chain;
mod mutations;
mod operations;
mod ordering;
mod pagination;
mod positions;
mod private_pg;
mod prune;
mod queries;
mod rollups;
mod scale_out;
mod schema;
mod security;
mod subscription;
mod user_change;
mod user_search;
