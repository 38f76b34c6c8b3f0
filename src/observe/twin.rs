//! A digital twin of a vLLM replica set for Prometheus: the simulator's requests, replayed on
//! a clock that runs `speedup` times real time, exposed as vLLM's `/metrics` (the Prometheus
//! text format, vLLM's metric names, types and buckets: counters, histograms and gauges, one
//! series per replica with a `pod` label as a cluster's scrape would give).
//!
//! What the twin knows is each request's arrival, first scheduling, first token and last
//! token: a request waits until it is scheduled, runs until its last token, and produces its
//! output tokens evenly between its first and last token. Inter-token gaps are recorded at
//! the request's mean gap (their sum and count are exact; their spread within a request is
//! not simulated per gap).

use crate::sim::RequestOutcome;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// One replica the twin exposes.
#[derive(Clone, Debug, PartialEq)]
pub struct TwinReplica {
    /// The pod name (`<deployment>-<hash>-<suffix>`).
    pub pod: String,
    /// `model_name`.
    pub model: String,
    /// The accelerator (an `accelerator` label).
    pub accelerator: String,
    /// The namespace (a `namespace` label).
    pub namespace: String,
    /// KV capacity, tokens (`None`: unlimited, no usage gauge).
    pub kv_capacity_tokens: Option<u64>,
    /// KV block size, tokens.
    pub block_size: u32,
}

/// One request, in absolute simulated ms.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Life {
    replica: u32,
    arrival_ms: f64,
    start_ms: f64,
    first_ms: f64,
    end_ms: f64,
    prompt: u32,
    output: u32,
    preemptions: u32,
}

/// The twin: replicas and the requests they served.
#[derive(Clone, Debug)]
pub struct Twin {
    replicas: Vec<TwinReplica>,
    lives: Vec<Life>,
    end_ms: f64,
}

/// vLLM's TTFT buckets, s.
const TTFT_BUCKETS: [f64; 22] = [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
/// vLLM's time-per-output-token buckets, s.
const TPOT_BUCKETS: [f64; 19] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];
/// vLLM's request-latency buckets (end to end, queue), s.
const LATENCY_BUCKETS: [f64; 21] = [
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];
/// vLLM's token-count buckets (1-2-5 up to the model's length).
const TOKEN_BUCKETS: [f64; 16] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0,
    50000.0, 100000.0,
];

/// Which histogram of a snapshot a family exposes.
type Pick = fn(&Snapshot) -> &Histogram;

/// A histogram being filled.
#[derive(Clone, Debug)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<f64>,
    sum: f64,
    count: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0.0; bounds.len()],
            sum: 0.0,
            count: 0.0,
        }
    }

    /// `n` observations of `value`.
    fn observe(&mut self, value: f64, n: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| value <= b) {
            self.counts[i] += n;
        }
        self.sum += value * n;
        self.count += n;
    }
}

/// One replica's metrics at an instant.
#[derive(Clone, Debug)]
struct Snapshot {
    running: u64,
    waiting: u64,
    kv_tokens: u64,
    success: u64,
    preemptions: u64,
    prompt_total: u64,
    generation_total: u64,
    ttft: Histogram,
    tpot: Histogram,
    e2e: Histogram,
    queue: Histogram,
    prompt_tokens: Histogram,
    generation_tokens: Histogram,
}

impl Snapshot {
    fn new() -> Self {
        Snapshot {
            running: 0,
            waiting: 0,
            kv_tokens: 0,
            success: 0,
            preemptions: 0,
            prompt_total: 0,
            generation_total: 0,
            ttft: Histogram::new(&TTFT_BUCKETS),
            tpot: Histogram::new(&TPOT_BUCKETS),
            e2e: Histogram::new(&LATENCY_BUCKETS),
            queue: Histogram::new(&LATENCY_BUCKETS),
            prompt_tokens: Histogram::new(&TOKEN_BUCKETS),
            generation_tokens: Histogram::new(&TOKEN_BUCKETS),
        }
    }
}

impl Twin {
    /// A twin of `replicas` serving `outcomes` (index `replica` into `replicas`); rejected
    /// requests are left out.
    pub fn new(replicas: Vec<TwinReplica>, outcomes: &[RequestOutcome]) -> Twin {
        let lives: Vec<Life> = outcomes
            .iter()
            .filter(|o| {
                !o.rejected && o.e2e_ms.is_finite() && (o.replica as usize) < replicas.len()
            })
            .map(|o| Life {
                replica: o.replica,
                arrival_ms: o.arrival_ms,
                start_ms: o.arrival_ms + o.queue_wait_ms,
                first_ms: o.arrival_ms + o.ttft_ms,
                end_ms: o.arrival_ms + o.e2e_ms,
                prompt: o.prompt_tokens,
                output: o.output_tokens,
                preemptions: o.preemptions,
            })
            .collect();
        let end_ms = lives.iter().map(|l| l.end_ms).fold(0.0, f64::max);
        Twin {
            replicas,
            lives,
            end_ms,
        }
    }

    /// When the last request completes, simulated ms.
    pub fn end_ms(&self) -> f64 {
        self.end_ms
    }

    /// The replicas.
    pub fn replicas(&self) -> &[TwinReplica] {
        &self.replicas
    }

    fn snapshots(&self, t_ms: f64) -> Vec<Snapshot> {
        let mut snaps = vec![Snapshot::new(); self.replicas.len()];
        for l in &self.lives {
            if l.arrival_ms > t_ms {
                continue;
            }
            let s = &mut snaps[l.replica as usize];
            if t_ms < l.start_ms {
                s.waiting += 1;
                continue;
            }
            let generated = if t_ms >= l.end_ms {
                u64::from(l.output)
            } else if t_ms >= l.first_ms && l.end_ms > l.first_ms {
                let share = (t_ms - l.first_ms) / (l.end_ms - l.first_ms);
                1 + (share * f64::from(l.output.saturating_sub(1))).floor() as u64
            } else {
                0
            };
            if t_ms >= l.first_ms {
                s.ttft.observe((l.first_ms - l.arrival_ms) / 1000.0, 1.0);
                s.prompt_total += u64::from(l.prompt);
                s.generation_total += generated;
                if l.output > 1 && generated > 1 {
                    let gap_s = (l.end_ms - l.first_ms) / 1000.0 / f64::from(l.output - 1);
                    s.tpot.observe(gap_s, (generated - 1) as f64);
                }
            }
            if t_ms >= l.end_ms {
                s.success += 1;
                s.preemptions += u64::from(l.preemptions);
                s.e2e.observe((l.end_ms - l.arrival_ms) / 1000.0, 1.0);
                s.queue.observe((l.start_ms - l.arrival_ms) / 1000.0, 1.0);
                s.prompt_tokens.observe(f64::from(l.prompt), 1.0);
                s.generation_tokens.observe(f64::from(l.output), 1.0);
            } else {
                s.running += 1;
                s.kv_tokens += u64::from(l.prompt) + generated;
            }
        }
        snaps
    }

    /// The `/metrics` page at simulated time `t_ms`.
    pub fn exposition(&self, t_ms: f64) -> String {
        let snaps = self.snapshots(t_ms);
        let labels: Vec<String> = self
            .replicas
            .iter()
            .map(|r| {
                format!(
                    "engine=\"0\",model_name=\"{}\",pod=\"{}\",namespace=\"{}\",accelerator=\"{}\"",
                    escape(&r.model),
                    escape(&r.pod),
                    escape(&r.namespace),
                    escape(&r.accelerator)
                )
            })
            .collect();
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, body: &dyn Fn(&mut String)| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            body(&mut out);
        };
        let gauge = |out: &mut String, name: &str, f: &dyn Fn(usize, &Snapshot) -> Option<f64>| {
            for (i, s) in snaps.iter().enumerate() {
                if let Some(v) = f(i, s) {
                    let _ = writeln!(out, "{name}{{{}}} {v}", labels[i]);
                }
            }
        };
        family(
            "vllm:num_requests_running",
            "gauge",
            "Number of requests in model execution batches.",
            &|o| {
                gauge(o, "vllm:num_requests_running", &|_, s| {
                    Some(s.running as f64)
                })
            },
        );
        family(
            "vllm:num_requests_waiting",
            "gauge",
            "Number of requests waiting to be processed.",
            &|o| {
                gauge(o, "vllm:num_requests_waiting", &|_, s| {
                    Some(s.waiting as f64)
                })
            },
        );
        family(
            "vllm:kv_cache_usage_perc",
            "gauge",
            "KV-cache usage. 1 means 100 percent usage.",
            &|o| {
                gauge(o, "vllm:kv_cache_usage_perc", &|i, s| {
                    let r = &self.replicas[i];
                    let capacity = r.kv_capacity_tokens?;
                    let block = u64::from(r.block_size.max(1));
                    let used = s.kv_tokens.div_ceil(block) * block;
                    Some((used as f64 / capacity.max(1) as f64).min(1.0))
                })
            },
        );
        family(
            "vllm:cache_config_info",
            "gauge",
            "Information of the LLMEngine CacheConfig.",
            &|o| {
                for (i, r) in self.replicas.iter().enumerate() {
                    if let Some(capacity) = r.kv_capacity_tokens {
                        let blocks = capacity / u64::from(r.block_size.max(1));
                        let _ = writeln!(
                            o,
                            "vllm:cache_config_info{{{},block_size=\"{}\",num_gpu_blocks=\"{blocks}\"}} 1",
                            labels[i], r.block_size
                        );
                    }
                }
            },
        );
        let counter = |out: &mut String, name: &str, extra: &str, f: &dyn Fn(&Snapshot) -> u64| {
            for (i, s) in snaps.iter().enumerate() {
                let _ = writeln!(out, "{name}{{{}{extra}}} {}", labels[i], f(s));
            }
        };
        family(
            "vllm:request_success_total",
            "counter",
            "Count of successfully processed requests.",
            &|o| {
                counter(
                    o,
                    "vllm:request_success_total",
                    ",finished_reason=\"length\"",
                    &|s| s.success,
                )
            },
        );
        family(
            "vllm:prompt_tokens_total",
            "counter",
            "Number of prefill tokens processed.",
            &|o| counter(o, "vllm:prompt_tokens_total", "", &|s| s.prompt_total),
        );
        family(
            "vllm:generation_tokens_total",
            "counter",
            "Number of generation tokens processed.",
            &|o| {
                counter(o, "vllm:generation_tokens_total", "", &|s| {
                    s.generation_total
                })
            },
        );
        family(
            "vllm:num_preemptions_total",
            "counter",
            "Cumulative number of preemption from the engine.",
            &|o| counter(o, "vllm:num_preemptions_total", "", &|s| s.preemptions),
        );
        let histograms: [(&str, &str, Pick); 7] = [
            (
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                |s| &s.ttft,
            ),
            (
                "vllm:time_per_output_token_seconds",
                "Histogram of time per output token in seconds.",
                |s| &s.tpot,
            ),
            (
                "vllm:inter_token_latency_seconds",
                "Histogram of inter-token latency in seconds.",
                |s| &s.tpot,
            ),
            (
                "vllm:e2e_request_latency_seconds",
                "Histogram of e2e request latency in seconds.",
                |s| &s.e2e,
            ),
            (
                "vllm:request_queue_time_seconds",
                "Histogram of time spent in WAITING phase for request.",
                |s| &s.queue,
            ),
            (
                "vllm:request_prompt_tokens",
                "Number of prefill tokens processed.",
                |s| &s.prompt_tokens,
            ),
            (
                "vllm:request_generation_tokens",
                "Number of generation tokens processed.",
                |s| &s.generation_tokens,
            ),
        ];
        for (name, help, pick) in histograms {
            family(name, "histogram", help, &|o| {
                for (i, s) in snaps.iter().enumerate() {
                    let h = pick(s);
                    let mut cumulative = 0.0;
                    for (b, c) in h.bounds.iter().zip(&h.counts) {
                        cumulative += c;
                        let _ = writeln!(
                            o,
                            "{name}_bucket{{{},le=\"{b:?}\"}} {cumulative}",
                            labels[i]
                        );
                    }
                    let _ = writeln!(o, "{name}_bucket{{{},le=\"+Inf\"}} {}", labels[i], h.count);
                    let _ = writeln!(o, "{name}_sum{{{}}} {}", labels[i], h.sum);
                    let _ = writeln!(o, "{name}_count{{{}}} {}", labels[i], h.count);
                }
            });
        }
        out
    }
}

/// A label value escaped for the text format.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A Deployment-style pod name: `<deployment>-<hash>-<suffix>`, the hash from the deployment
/// name, the suffix from the replica's index (both in Kubernetes' safe alphabet).
pub fn pod_name(deployment: &str, index: usize) -> String {
    const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in deployment.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let encode = |mut x: u64, n: usize| -> String {
        (0..n)
            .map(|_| {
                let c = SAFE[(x % SAFE.len() as u64) as usize] as char;
                x /= SAFE.len() as u64;
                c
            })
            .collect()
    };
    let suffix_seed = (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ h;
    format!("{deployment}-{}-{}", encode(h, 10), encode(suffix_seed, 5))
}

/// How long the twin serves, and how fast.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Serving {
    /// Simulated seconds per real second.
    pub speedup: f64,
    /// Real seconds to keep serving the final state after the last request completes.
    pub linger_s: f64,
}

/// Serves `twin` on `listener` (`GET /metrics`) from now until the last request completes on
/// the scaled clock, then `linger_s` more; returns the scrapes served.
pub fn serve(twin: &Twin, listener: TcpListener, serving: Serving) -> std::io::Result<u64> {
    listener.set_nonblocking(true)?;
    let started = Instant::now();
    let until_s = twin.end_ms() / 1000.0 / serving.speedup + serving.linger_s;
    let mut scrapes = 0;
    loop {
        let elapsed = started.elapsed().as_secs_f64();
        if elapsed > until_s {
            return Ok(scrapes);
        }
        match listener.accept() {
            Ok((stream, _)) => {
                let t_ms = started.elapsed().as_secs_f64() * serving.speedup * 1000.0;
                if answer(stream, twin, t_ms).unwrap_or(false) {
                    scrapes += 1;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Answers one connection; whether it was a scrape of `/metrics`.
fn answer(mut stream: TcpStream, twin: &Twin, t_ms: f64) -> std::io::Result<bool> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let target = line
        .lines()
        .next()
        .and_then(|l| {
            let mut parts = l.split_whitespace();
            (parts.next() == Some("GET")).then(|| parts.next())?
        })
        .unwrap_or("");
    let path = target.split('?').next().unwrap_or("");
    let (status, kind, body, scrape) = match path {
        "/metrics" => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            twin.exposition(t_ms),
            true,
        ),
        "/" => (
            "200 OK",
            "text/plain; charset=utf-8",
            "wva twin: vLLM metrics at /metrics\n".to_string(),
            false,
        ),
        _ => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found\n".to_string(),
            false,
        ),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body.as_bytes())?;
    stream.flush()?;
    Ok(scrape)
}

/// An address the twin cannot listen on.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {cause}")]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// Why not.
    pub cause: std::io::Error,
}

impl crate::error::ModuleError for BindError {}

/// Binds `addr` for [`serve`], with an error naming it.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr).map_err(|cause| BindError { addr, cause })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(replica: u32, arrival_ms: f64, wait: f64, ttft: f64, e2e: f64) -> RequestOutcome {
        RequestOutcome {
            id: 0,
            group: 0,
            replica,
            arrival_ms,
            prompt_tokens: 100,
            output_tokens: 11,
            queue_wait_ms: wait,
            ttft_ms: ttft,
            e2e_ms: e2e,
            preemptions: 0,
            rejected: false,
            counted: true,
        }
    }

    fn twin() -> Twin {
        let replica = |i| TwinReplica {
            pod: pod_name("chat-h100", i),
            model: "m".into(),
            accelerator: "H100".into(),
            namespace: "default".into(),
            kv_capacity_tokens: Some(1600),
            block_size: 16,
        };
        Twin::new(
            vec![replica(0), replica(1)],
            &[
                outcome(0, 0.0, 10.0, 50.0, 1050.0),
                outcome(0, 100.0, 500.0, 600.0, 1600.0),
                outcome(1, 200.0, 0.0, 40.0, 540.0),
            ],
        )
    }

    fn value(page: &str, series: &str) -> f64 {
        page.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{page}"))
    }

    #[test]
    fn pods_look_like_a_deployments() {
        let p = pod_name("chat-h100", 3);
        assert_eq!(crate::observe::series::deployment_of(&p), "chat-h100");
        assert_ne!(p, pod_name("chat-h100", 4));
    }

    #[test]
    fn gauges_and_counters_follow_the_requests() {
        let t = twin();
        let p0 = format!(
            "{{engine=\"0\",model_name=\"m\",pod=\"{}\"",
            pod_name("chat-h100", 0)
        );
        // At 300 ms: request 1 runs, request 2 waits (scheduled at 600 ms).
        let page = t.exposition(300.0);
        assert_eq!(value(&page, &format!("vllm:num_requests_running{p0}")), 1.0);
        assert_eq!(value(&page, &format!("vllm:num_requests_waiting{p0}")), 1.0);
        assert_eq!(
            value(&page, &format!("vllm:request_success_total{p0}")),
            0.0
        );
        // 100 prompt + 1 + 2 generated (a quarter of the way to 10 more): 112 -> 7 blocks.
        let kv = value(&page, &format!("vllm:kv_cache_usage_perc{p0}"));
        assert_eq!(kv, 112.0 / 1600.0);
        // After everything: 2 completions on replica 0, 10 gaps each.
        let page = t.exposition(2000.0);
        assert_eq!(
            value(&page, &format!("vllm:request_success_total{p0}")),
            2.0
        );
        assert_eq!(
            value(
                &page,
                &format!("vllm:time_per_output_token_seconds_count{p0}")
            ),
            20.0
        );
        assert!(
            (value(
                &page,
                &format!("vllm:time_per_output_token_seconds_sum{p0}")
            ) - 2.0)
                .abs()
                < 1e-9
        );
        assert!(
            (value(&page, &format!("vllm:time_to_first_token_seconds_sum{p0}")) - 0.65).abs()
                < 1e-9
        );
        assert_eq!(
            value(&page, &format!("vllm:request_prompt_tokens_sum{p0}")),
            200.0
        );
        assert_eq!(value(&page, &format!("vllm:num_requests_running{p0}")), 0.0);
        assert_eq!(t.end_ms(), 1700.0);
    }

    #[test]
    fn histograms_are_cumulative() {
        let page = twin().exposition(2000.0);
        let buckets: Vec<f64> = page
            .lines()
            .filter(|l| {
                l.starts_with("vllm:time_to_first_token_seconds_bucket")
                    && l.contains(&pod_name("chat-h100", 0))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*buckets.last().unwrap(), 2.0);
    }

    #[test]
    fn serves_metrics_over_http() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let t = twin();
        let server = std::thread::spawn(move || {
            serve(
                &t,
                listener,
                Serving {
                    speedup: 10.0,
                    linger_s: 1.0,
                },
            )
        });
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut page = String::new();
        s.read_to_string(&mut page).unwrap();
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains("# TYPE vllm:num_requests_running gauge"));
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /nope HTTP/1.1\r\n\r\n").unwrap();
        let mut page = String::new();
        s.read_to_string(&mut page).unwrap();
        assert!(page.starts_with("HTTP/1.1 404"));
        assert_eq!(server.join().unwrap().unwrap(), 1);
    }
}
