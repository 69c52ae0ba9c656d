//! Issue 18: the schema as client caches and code generators use it —
//! object identity, one error shape, one way to page, typed scalars, tones,
//! the viewer, and the filters frontends look for.

mod errors;
mod filters;
mod identity;
mod paging;
mod shapes;
