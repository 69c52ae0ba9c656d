//! One test binary for the whole API, so it is compiled and linked once.

mod helpers;
mod instances;

mod core;
mod mutations;
mod ordering;
mod queries;
mod scale_out;
mod user_change;
