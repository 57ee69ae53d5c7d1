//! The `fog` subcommands, one module each.

pub(crate) mod bench;
pub(crate) mod demo;
pub(crate) mod key;
pub(crate) mod sim;

use std::fmt;

/// What kind of failure ended a command; each has its own exit code, so
/// scripts can tell them apart. Attached to an error as its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Anything else: an I/O error, a bug.
    Other = 1,
    /// The input (a file, an argument) cannot be used. Clap's usage errors
    /// also exit with 2.
    BadInput = 2,
    /// A key URI is malformed.
    BadKey = 3,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Failure::Other => "failed",
            Failure::BadInput => "bad input",
            Failure::BadKey => "bad key",
        })
    }
}
