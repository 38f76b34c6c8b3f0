//! What the command line says on stderr besides its output, at the verbosity `-q`/`-v` chose:
//! notes and status lines (hidden by `-q`), details and timings (shown by `-v`), warnings
//! (always). Errors are printed by `cli::main` alone.

use std::fmt::Display;
use std::sync::atomic::{AtomicU8, Ordering};

/// How much to say: 0 with `-q`, 1 by default, 2 with `-v`.
static LEVEL: AtomicU8 = AtomicU8::new(1);

/// Sets the verbosity from the global flags.
pub fn set_level(quiet: bool, verbose: bool) {
    let level = match (quiet, verbose) {
        (true, _) => 0,
        (false, false) => 1,
        (false, true) => 2,
    };
    LEVEL.store(level, Ordering::Relaxed);
}

fn level() -> u8 {
    LEVEL.load(Ordering::Relaxed)
}

/// `-q` was given: no notes, no status lines, no progress bars.
pub fn is_quiet() -> bool {
    level() == 0
}

/// `wva: note: ...`: something the user may want to know (left-out rows, defaults taken).
pub fn note(message: impl Display) {
    if level() >= 1 {
        eprintln!("wva: note: {message}");
    }
}

/// `wva: ...`: what was done (files written, targets met).
pub fn status(message: impl Display) {
    if level() >= 1 {
        eprintln!("wva: {message}");
    }
}

/// `wva: warning: ...`: the output may not be what was meant. Shown even with `-q`.
pub fn warning(message: impl Display) {
    eprintln!("wva: warning: {message}");
}

/// `wva: ...` with `-v` only: what was read, how long each step took.
pub fn detail(message: impl Display) {
    if level() >= 2 {
        eprintln!("wva: {message}");
    }
}
