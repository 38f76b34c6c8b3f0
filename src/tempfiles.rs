//! Temporary files and folders that never outlive the run: removed when dropped, and removed
//! by the SIGINT/SIGTERM handler before the process exits.
//!
//! Outputs are written to a temporary path beside the target and renamed over it (see
//! `cli::output::write_atomically`), so an interrupted run leaves the old output intact; this
//! module makes sure it leaves no temporary either. The few steps that must not be cut in
//! half (a rename, a swap of several files) run under [`uninterrupted`]: the handler waits
//! for them, briefly.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The temporary paths alive now.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// How long the signal handler waits for an [`uninterrupted`] step before exiting anyway.
const HANDLER_PATIENCE: Duration = Duration::from_secs(2);

/// Exit code after SIGINT or SIGTERM (128 + SIGINT, as shells report it).
pub const INTERRUPTED_EXIT_CODE: i32 = 130;

fn live() -> MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn remove(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// A temporary file or folder, removed when dropped unless [`TempPath::persist`]ed.
#[derive(Debug)]
pub struct TempPath {
    path: PathBuf,
}

impl TempPath {
    /// Registers `path` and creates it with `create`, both at once for the signal handler (so
    /// it never misses a path that exists).
    pub fn create(
        path: PathBuf,
        create: impl FnOnce(&Path) -> io::Result<()>,
    ) -> io::Result<TempPath> {
        let mut live = live();
        if let Err(e) = create(&path) {
            remove(&path);
            return Err(e);
        }
        live.push(path.clone());
        Ok(TempPath { path })
    }

    /// A fresh empty folder at `path` (anything there first is removed).
    pub fn folder(path: PathBuf) -> io::Result<TempPath> {
        TempPath::create(path, |p| {
            remove(p);
            std::fs::create_dir_all(p)
        })
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temporary to `to`, which it then no longer is.
    pub fn persist(self, to: &Path) -> io::Result<()> {
        let mut live = live();
        std::fs::rename(&self.path, to)?;
        live.retain(|p| p != &self.path);
        drop(live);
        std::mem::forget(self);
        Ok(())
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let mut live = live();
        remove(&self.path);
        live.retain(|p| p != &self.path);
    }
}

/// Runs `step` with the signal handler held off (it waits for the step, up to a few seconds):
/// for renames that must all happen or be undone. `step` must not create or drop a
/// [`TempPath`].
pub fn uninterrupted<T>(step: impl FnOnce() -> T) -> T {
    let _held = live();
    step()
}

/// Signals received so far.
static SIGNALS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The SIGINT/SIGTERM handler: the first signal starts [`on_interrupt`] on its own thread (so
/// the handler is free for the next one); a second exits at once, temporaries or not.
pub fn on_signal() {
    if SIGNALS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
        std::thread::spawn(|| on_interrupt());
    } else {
        std::process::exit(INTERRUPTED_EXIT_CODE);
    }
}

/// What the first signal does: removes every live temporary and exits with
/// [`INTERRUPTED_EXIT_CODE`]. Waits at most `HANDLER_PATIENCE` for an [`uninterrupted`]
/// step, then exits anyway (a second signal during that wait exits at once: [`on_signal`]).
pub fn on_interrupt() -> ! {
    let start = Instant::now();
    loop {
        match LIVE.try_lock() {
            Ok(live) => {
                for p in live.iter() {
                    remove(p);
                }
                break;
            }
            Err(std::sync::TryLockError::Poisoned(p)) => {
                for path in p.into_inner().iter() {
                    remove(path);
                }
                break;
            }
            Err(std::sync::TryLockError::WouldBlock) if start.elapsed() < HANDLER_PATIENCE => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::sync::TryLockError::WouldBlock) => break,
        }
    }
    eprintln!("wva: interrupted");
    std::process::exit(INTERRUPTED_EXIT_CODE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_removed_when_dropped_and_kept_when_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join(".a.tmp");
        {
            let t = TempPath::create(a.clone(), |p| std::fs::write(p, "x")).unwrap();
            assert!(t.path().exists());
            assert!(live().contains(&a));
        }
        assert!(!a.exists());
        assert!(!live().contains(&a));
        let f = TempPath::folder(dir.path().join(".f.tmp")).unwrap();
        std::fs::write(f.path().join("x"), "x").unwrap();
        let folder = f.path().to_path_buf();
        drop(f);
        assert!(!folder.exists());
        let t = TempPath::create(a.clone(), |p| std::fs::write(p, "y")).unwrap();
        let out = dir.path().join("out");
        t.persist(&out).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "y");
        assert!(!live().contains(&a));
        assert_eq!(uninterrupted(|| 7), 7);
    }
}
