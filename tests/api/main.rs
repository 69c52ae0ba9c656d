//! One test binary for the whole API, so it is compiled and linked once.

mod helpers;
mod instances;

mod bad_input;
mod cli;
mod core;
mod counts;
mod database;
mod dataloader;
mod distinct;
mod feed;
mod filters;
mod graphiql;
mod health;
mod mutations;
mod ordering;
mod pagination;
mod prune;
mod queries;
mod scale_out;
mod schema;
mod subscription;
mod user_change;
