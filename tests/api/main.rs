//! One test binary for the whole API, so it is compiled and linked once.

mod helpers;
mod instances;

mod core;
mod scale_out;
