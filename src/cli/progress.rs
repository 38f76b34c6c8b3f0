//! Progress bars on stderr for work that can run over a second: shown only on a terminal,
//! only after the first second, never with `-q`; stdout (a table, `-o json`) is never touched.

use crate::usecase::Listener;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// How long work runs before its bar appears: quick commands print no bar at all.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// A progress bar (with a known length) or a spinner (without), hidden until [`SHOW_AFTER`].
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar over `len` units of `unit` (`policies`, `sections`), or a spinner when `len` is
    /// `None`; `message` says what is being done.
    pub fn new(len: Option<u64>, message: &str, unit: &str) -> Self {
        let template = match len {
            Some(_) => format!("{{spinner}} {message}: {{pos}}/{{len}} {unit} [{{elapsed}}]"),
            None => format!("{{spinner}} {message} [{{elapsed}}]"),
        };
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        if std::io::stderr().is_terminal() && !super::say::is_quiet() {
            let shown = bar.clone();
            // Detached: if the work ends first, the bar is finished and stays hidden (and the
            // process may exit before the thread wakes).
            std::thread::spawn(move || {
                std::thread::sleep(SHOW_AFTER);
                if !shown.is_finished() {
                    shown.set_draw_target(ProgressDrawTarget::stderr());
                    shown.enable_steady_tick(Duration::from_millis(120));
                }
            });
        }
        Self { bar }
    }

    /// Adds `n` units done.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Sets the units done.
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A listener printing notes and warnings on stderr and progress as a bar on a terminal.
#[derive(Default)]
pub struct Terminal {
    bar: std::sync::Mutex<Option<Progress>>,
}

impl Listener for Terminal {
    fn note(&self, message: &str) {
        super::say::note(message);
    }
    fn warning(&self, message: &str) {
        super::say::warning(message);
    }
    fn start(&self, total: Option<u64>, what: &str, unit: &str) {
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Progress::new(total, what, unit));
    }
    fn advance_to(&self, done: u64) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            bar.set_position(done);
        }
    }
    fn finish(&self) {
        self.bar.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}
