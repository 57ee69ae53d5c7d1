//! Progress bars on stderr for long simulator runs.
//!
//! A [`Progress`] draws an `indicatif` bar on stderr, at most
//! [`REFRESH_HZ`] times a second, and only when stderr is a terminal:
//! indicatif's stderr target hides itself when stderr is redirected or
//! `TERM=dumb`. Setting the environment variable `FOG_NO_PROGRESS` to
//! anything but empty or `0` hides it as well. Nothing is ever written to
//! stdout, so a scenario's stdout (and its output directory) does not depend
//! on whether a bar was shown.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Environment variable that hides every progress bar when set to a
/// non-empty value other than `0`.
pub const NO_PROGRESS_ENV: &str = "FOG_NO_PROGRESS";

/// Maximum redraws per second.
pub const REFRESH_HZ: u8 = 8;

/// Layout of the bar: label, bar, position, rate, time left, message.
const TEMPLATE: &str = "{prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}";

/// A progress bar on stderr (or a hidden one that ignores every call).
///
/// Cloning yields a handle to the same bar.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

/// Whether `FOG_NO_PROGRESS` asks for no progress output.
fn disabled_by_env() -> bool {
    std::env::var_os(NO_PROGRESS_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

impl Progress {
    /// A bar labelled `label` counting up to `total`, drawn on stderr when
    /// stderr is a terminal and `FOG_NO_PROGRESS` is not set; hidden
    /// otherwise.
    pub fn new(label: &str, total: u64) -> Self {
        let target = if disabled_by_env() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr_with_hz(REFRESH_HZ)
        };
        let style = ProgressStyle::with_template(TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), target)
            .with_style(style)
            .with_prefix(label.to_string());
        Progress { bar }
    }

    /// A bar that is never drawn.
    pub fn hidden() -> Self {
        Progress {
            bar: ProgressBar::hidden(),
        }
    }

    /// Whether this bar is not being drawn (not a terminal, disabled, or
    /// created by [`hidden`](Self::hidden)).
    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }

    /// Advances the position by `n`.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Sets the position.
    pub fn set(&self, pos: u64) {
        self.bar.set_position(pos);
    }

    /// The current position.
    pub fn position(&self) -> u64 {
        self.bar.position()
    }

    /// Sets the message shown after the bar.
    pub fn set_message(&self, msg: impl Into<String>) {
        self.bar.set_message(msg.into());
    }

    /// Marks the bar finished, leaving its final state on screen.
    pub fn finish(&self) {
        self.bar.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_progress_accepts_every_call() {
        let p = Progress::hidden();
        assert!(p.is_hidden());
        p.inc(3);
        p.inc(2);
        assert_eq!(p.position(), 5);
        p.set(42);
        assert_eq!(p.position(), 42);
        p.set_message("phase 2".to_string());
        p.set_message("phase 3");
        p.finish();
    }

    #[test]
    fn progress_is_hidden_without_a_terminal() {
        // Under `cargo test` stderr is captured or piped, not a terminal;
        // when it is a terminal (a developer running the tests by hand) the
        // bar may legitimately be drawn, so only check the usual case.
        use std::io::IsTerminal;
        let p = Progress::new("test", 10);
        if !std::io::stderr().is_terminal() || disabled_by_env() {
            assert!(p.is_hidden());
        }
        p.inc(10);
        assert_eq!(p.position(), 10);
        p.finish();
    }
}
