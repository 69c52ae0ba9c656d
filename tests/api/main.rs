//! One test binary for the whole API, so it is compiled and linked once.

mod helpers;
mod instances;

mod core;
mod counts;
mod dataloader;
mod distinct;
mod feed;
mod filters;
mod mutations;
mod ordering;
mod pagination;
mod prune;
mod queries;
mod scale_out;
mod user_change;
