//! Analytic model vs simulator over a sweep of load, for the golden vector and the shipped
//! profiles: prints the Markdown table of `docs/validation.md` and draws
//! `docs/img/sim-vs-analytic.svg`.
//!
//!     cargo run --release --example validation_sweep > /tmp/sweep.md
//!
//! An argument names another plot file (PNG unless it ends in `.svg`).

use std::path::Path;
use wva::perf::{Gen2Params, PerfParams, RequestShape};
use wva::queueing::Targets;
use wva::report::plot::{Panel, Series, panels};
use wva::sim::agreement::compare;
use wva::sim::setup::{EngineOverrides, engine_config};
use wva::sim::{GroupConfig, Horizon, Router, SimConfig, Traffic, run};
use wva::spec::{ArrivalProcess, LengthDist};
use wva::spec::{Profile, load_profiles};

const LOADS: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const REQUESTS: u64 = 100_000;
const SEED: u64 = 7;

fn profile(file: &str, accelerator: &str) -> Profile {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    load_profiles(&root.join(file))
        .unwrap()
        .into_iter()
        .find(|p| p.accelerator == accelerator)
        .unwrap()
}

fn main() {
    let golden = Profile {
        model: "golden (domain.md)".into(),
        accelerator: "any accelerator".into(),
        gpus_per_replica: 1,
        max_batch: 48,
        max_queue: Some(128),
        max_batch_at_output_tokens: None,
        perf: PerfParams::V2(Gen2Params {
            alpha_ms: 12.0,
            beta_ms_per_token: 0.05,
            gamma_ms_per_kv_token: 0.0005,
        }),
        kv_capacity_tokens: None,
        source: String::new(),
        provenance: None,
    };
    let cases = [
        (golden, 128.0, 512.0),
        (
            profile("profiles/qwen2.5-14b-instruct.yaml", "H100"),
            1024.0,
            512.0,
        ),
        (
            profile("profiles/llama-3.1-8b-instruct.yaml", "H100"),
            1155.0,
            211.0,
        ),
        (
            profile("profiles/llama-3.1-8b-instruct.yaml", "H100"),
            256.0,
            64.0,
        ),
        (
            profile("profiles/wva-v04-chart.yaml", "H100"),
            1024.0,
            128.0,
        ),
        (
            profile("profiles/wva-v04-chart.yaml", "L40S"),
            1024.0,
            128.0,
        ),
    ];
    println!(
        "| profile | shape (in x out) | load | rate req/s | TTFT sim ms | TTFT analytic ms | diff | ITL sim ms | ITL analytic ms | diff |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut plots = Vec::new();
    for (i, (profile, prompt, output)) in cases.iter().enumerate() {
        let shape = RequestShape {
            prompt_tokens: *prompt,
            output_tokens: *output,
        };
        let points = compare(profile, shape, &LOADS, REQUESTS, SEED).unwrap();
        let label = format!("{} on {}", profile.model, profile.accelerator);
        for p in &points {
            println!(
                "| {label} | {prompt:.0} x {output:.0} | {:.0}% | {:.3} | {:.1} | {:.1} | {:+.1}% | {:.2} | {:.2} | {:+.1}% |",
                p.load_fraction * 100.0,
                p.rate_rps,
                p.sim_ttft_ms.mean,
                p.analytic_ttft_ms(),
                p.ttft_error() * 100.0,
                p.sim_itl_ms.mean,
                p.analytic.itl_ms,
                p.itl_error() * 100.0
            );
        }
        let line =
            |name: &str, light: bool, f: &dyn Fn(&wva::sim::agreement::AgreementPoint) -> f64| {
                Series {
                    name: name.into(),
                    color: 0,
                    light,
                    points: points.iter().map(|p| (p.load_fraction, f(p))).collect(),
                }
            };
        plots.push(Panel {
            title: format!("{label}, {prompt:.0} x {output:.0} tokens: TTFT"),
            y_label: "ms".into(),
            x_label: None,
            series: vec![
                line("simulated", false, &|p| p.sim_ttft_ms.mean),
                line("analytic", true, &|p| p.analytic_ttft_ms()),
            ],
        });
        plots.push(Panel {
            title: format!("{label}, {prompt:.0} x {output:.0} tokens: ITL"),
            y_label: "ms".into(),
            x_label: None,
            series: vec![
                Series {
                    color: 1,
                    ..line("simulated", false, &|p| p.sim_itl_ms.mean)
                },
                Series {
                    color: 1,
                    ..line("analytic", true, &|p| p.analytic.itl_ms)
                },
            ],
        });
        eprintln!("case {} of {} done", i + 1, cases.len());
    }
    routers();
    let out = std::env::args().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/img/sim-vs-analytic.svg"),
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    panels(&out, "load (share of the analytic max rate)", &plots).unwrap();
}

/// Mean TTFT under each router: six Qwen2.5-14B/H100 replicas at 56 req/s (9.3 per replica),
/// prompts of 1,155 tokens, outputs of mean 211, 30 minutes.
fn routers() {
    let qwen = profile("profiles/qwen2.5-14b-instruct.yaml", "H100");
    let engine = engine_config(&qwen, qwen.max_batch, &EngineOverrides::default());
    println!();
    println!("| router | output lengths | mean TTFT ms | p99 TTFT ms | mean ITL ms |");
    println!("|---|---|---:|---:|---:|");
    let exponential = LengthDist::Exponential { mean: 211.0 };
    let fixed = LengthDist::Fixed { mean: 211.0 };
    for (router, output, name) in [
        (Router::RoundRobin, exponential, "exponential"),
        (Router::LeastOutstanding, exponential, "exponential"),
        (Router::PowerOfTwo, exponential, "exponential"),
        (Router::Random, exponential, "exponential"),
        (Router::RoundRobin, fixed, "fixed"),
        (Router::LeastOutstanding, fixed, "fixed"),
    ] {
        let config = SimConfig {
            groups: vec![GroupConfig {
                name: "qwen".into(),
                engines: vec![engine; 6],
                router,
                targets: Targets::default(),
            }],
            seed: SEED,
            timeline_bucket_ms: None,
            record_requests: false,
        };
        let traffic = Traffic {
            rate_rps: 56.0,
            arrivals: ArrivalProcess::Poisson,
            prompt: LengthDist::Fixed { mean: 1155.0 },
            output,
        };
        let requests = wva::sim::Generator::new(&[traffic], Horizon::Duration(1800.0), 0.1, SEED);
        let g = run(&config, requests, &mut |_| {})
            .unwrap()
            .groups
            .remove(0);
        println!(
            "| {router} | {name} | {:.1} | {:.1} | {:.2} |",
            g.ttft_ms.mean, g.ttft_ms.p99, g.itl_ms.mean
        );
    }
}
