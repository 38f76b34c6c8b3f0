//! A real Prometheus server for the tests (Debian's `prometheus` package; `.ci/run` installs
//! it): started on a free loopback port with a scrape configuration, ready when its API
//! answers, killed when dropped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `prometheus` binary (`$WVA_PROMETHEUS`, else on PATH). Under CI a missing binary fails
/// the test with a clear message; elsewhere the test is skipped with a notice (`None`).
pub fn binary() -> Option<PathBuf> {
    let found = std::env::var_os("WVA_PROMETHEUS")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join("prometheus"))
                    .find(|p| p.is_file())
            })
        });
    if found.is_some() {
        return found;
    }
    let ci = std::env::var("CI")
        .map(|v| !v.is_empty() && v != "false" && v != "0")
        .unwrap_or(false);
    if ci {
        panic!(
            "prometheus not found: the round-trip tests need a real Prometheus (apt-get install prometheus; .ci/run installs it), or WVA_PROMETHEUS pointing at the binary"
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "notice: skipping: no prometheus binary on PATH (apt-get install prometheus, or set WVA_PROMETHEUS)"
    );
    None
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running Prometheus.
pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its log.
    pub log: PathBuf,
}

impl Prometheus {
    /// Starts `binary` on a free port with `config` (YAML) and storage in `dir`; waits until
    /// it is ready (at most 30 s).
    pub fn start(binary: &Path, dir: &Path, config: &str) -> Prometheus {
        let port = free_port();
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.join("prometheus.log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=2d")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus starts");
        let p = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let started = Instant::now();
        while p.get("/-/ready").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "prometheus did not become ready in 30 s; its log: {}",
                std::fs::read_to_string(&p.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    /// The body of `GET path` when it answers 200.
    pub fn get(&self, path: &str) -> Option<String> {
        use std::io::Read;
        let addr = self.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.0 200")
            .then(|| body.to_string())
            .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
    }

    /// Waits until the scrape loop of `job` has run once (whatever its outcome): targets are
    /// picked up a few seconds after start.
    pub fn wait_for_scrape_loop(&self, job: &str) {
        let started = Instant::now();
        loop {
            if let Some(body) = self.get("/api/v1/targets") {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let active = v["data"]["activeTargets"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if active.iter().any(|t| {
                    t["labels"]["job"] == job
                        && t["lastScrape"]
                            .as_str()
                            .is_some_and(|s| !s.starts_with("0001-"))
                }) {
                    return;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "prometheus did not start scraping `{job}` in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
