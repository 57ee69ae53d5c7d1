//! The discrete-event simulator: many cores of the same routing code the
//! real node runs, linked in memory, in virtual time.
//!
//! - [`engine`]: the event queue, links with latency, node failures, and a
//!   trace of every request's hops and messages;
//! - [`content`]: virtual keys with no payload, so memory stays compact;
//! - `scenario`: the studies `fog sim` runs;
//! - [`report`]: CSV, SVG and JSON output; [`progress`]: progress on stderr;
//! - [`seeds`]: a study's figures over many seeds, median and range.
//!
//! Everything is seeded: the same seed and arguments give byte-identical
//! output.

pub mod content;
pub mod engine;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod seeds;
