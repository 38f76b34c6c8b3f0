//! `wva observe` against a local Prometheus holding a day of vLLM metrics for 20 variants
//! (two pods each, scraped every 30 s: 480 series, 1.4 million samples, backfilled with
//! `promtool tsdb create-blocks-from openmetrics`): the queries, the per-variant assembly and
//! every output (observations, scenario loads, look-alike trace, summary) at 60 s steps.
//! Target (issue 20): under 5 s. Needs `prometheus` and `promtool` (Debian's `prometheus`
//! package); without them the benchmark says so and measures nothing.

#[path = "../tests/common/prometheus.rs"]
#[allow(dead_code)]
mod prometheus;

use criterion::{Criterion, criterion_group, criterion_main};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;
use wva::observe::{Client, Grouping, ObserveRequest, Range, observe, summarize, write};

const VARIANTS: usize = 20;
const PODS: usize = 2;
const DAY_S: i64 = 86_400;
const SCRAPE_S: i64 = 30;

/// A day of synthetic metrics ending at `end_s` (a diurnal rate per variant), as OpenMetrics.
fn openmetrics(end_s: i64) -> String {
    let start_s = end_s - DAY_S;
    let mut families: Vec<(String, String)> = Vec::new(); // (name, samples)
    let counters = wva::observe::series::COUNTERS;
    let gauges = [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
    ];
    for name in counters.iter().chain(&gauges) {
        let mut text = String::new();
        for v in 0..VARIANTS {
            for p in 0..PODS {
                let labels = format!(
                    "model_name=\"model-{}\",pod=\"variant-{v}-5d8c7b9f6c-pod{p:02}\",namespace=\"llm\",accelerator=\"{}\"",
                    v % 7,
                    ["H100", "A100", "L40S"][v % 3]
                );
                let base_rps = 0.5 + v as f64 * 0.1;
                let (mut requests, mut prompt, mut output) = (0.0, 0.0, 0.0);
                let mut t = start_s;
                while t <= end_s {
                    let phase = (t - start_s) as f64 / DAY_S as f64 * std::f64::consts::TAU;
                    let rate = base_rps * (1.0 + 0.6 * phase.sin());
                    let n = (rate * SCRAPE_S as f64).round();
                    requests += n;
                    prompt += n * 1000.0;
                    output += n * 200.0;
                    let value = match *name {
                        "vllm:request_success_total"
                        | "vllm:request_prompt_tokens_count"
                        | "vllm:request_generation_tokens_count"
                        | "vllm:time_to_first_token_seconds_count" => requests,
                        "vllm:request_prompt_tokens_sum" => prompt,
                        "vllm:request_generation_tokens_sum" => output,
                        "vllm:time_to_first_token_seconds_sum" => requests * 0.05,
                        "vllm:time_per_output_token_seconds_sum" => output * 0.012,
                        "vllm:time_per_output_token_seconds_count" => output - requests,
                        "vllm:num_requests_running" => rate * 2.5,
                        "vllm:num_requests_waiting" => 0.0,
                        _ => rate * 0.04,
                    };
                    let _ = writeln!(text, "{name}{{{labels}}} {value} {t}");
                    t += SCRAPE_S;
                }
            }
        }
        families.push((name.to_string(), text));
    }
    let mut out = String::new();
    for (name, samples) in families {
        let _ = writeln!(out, "# TYPE {name} unknown");
        out.push_str(&samples);
    }
    out.push_str("# EOF\n");
    out
}

fn bench(c: &mut Criterion) {
    let (Some(prometheus_bin), true) = (
        prometheus::binary(),
        std::process::Command::new("promtool")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
    ) else {
        eprintln!("notice: observe benchmark skipped: needs prometheus and promtool");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // A whole day ending an hour ago, aligned to the scrape interval.
    let end_s = (now_s - 3600) / SCRAPE_S * SCRAPE_S;
    let input = dir.path().join("day.om");
    std::fs::write(&input, openmetrics(end_s)).unwrap();
    let data = dir.path().join("data");
    let status = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(&input)
        .arg(&data)
        .status()
        .unwrap();
    assert!(status.success(), "promtool could not backfill");
    let prom = prometheus::Prometheus::start(
        &prometheus_bin,
        dir.path(),
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
    );
    let client = Client::new(&prom.url, None, Duration::from_secs(60));
    let range = Range {
        start_s: (end_s - DAY_S) as f64,
        end_s: end_s as f64,
        step_s: 60.0,
    };
    let request = ObserveRequest {
        range,
        matchers: "namespace=\"llm\"".into(),
        grouping: Grouping::default(),
        traffic_per_metric_s: 1.0,
    };
    let first = observe(&client, &request).unwrap();
    assert_eq!(first.variants.len(), VARIANTS);
    assert_eq!(first.variants[0].steps.len(), 1440);

    let mut group = c.benchmark_group("observe");
    group.sample_size(10);
    group.bench_function("queries and assembly only", |b| {
        b.iter(|| black_box(observe(&client, &request).unwrap().variants.len()));
    });
    group.bench_function("a day of 60 s steps, 20 variants x 2 pods", |b| {
        b.iter(|| {
            let observed = observe(&client, &request).unwrap();
            let obs = write::observations_csv(&observed.variants, 60.0, "bench");
            let loads = write::model_loads(&observed.variants);
            let trace = write::look_alike_csv(&loads, 60.0, 1);
            let report = summarize(&observed, &prom.url, range, 60.0);
            black_box((obs.len(), trace.len(), report.variants.len()))
        });
    });
    group.finish();
    drop(prom);
}

criterion_group!(benches, bench);
criterion_main!(benches);
