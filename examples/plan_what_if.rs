//! The library without the command line: plan a scenario for today's traffic and for twice
//! that, then check today's plan in the simulator under both loads (what `wva plan
//! --load-scale 2` and `wva simulate --plan plan.json --load-scale 2` answer).
//!
//! Run from the project root: `cargo run --release --example plan_what_if`.

use std::path::Path;
use wva::optimize::{PlanOptions, plan};
use wva::spec::load_scenario;
use wva::verify::{VerifyOptions, verify};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let today = load_scenario(Path::new("scenarios/quickstart.yaml"))?;
    let mut doubled = today.clone();
    doubled.scale_load(2.0)?;

    let options = PlanOptions::default();
    let plan_today = plan(&today, &options)?;
    let plan_doubled = plan(&doubled, &options)?;
    for (what, p) in [("today", &plan_today), ("traffic x2", &plan_doubled)] {
        println!(
            "{what:>10}: {} GPUs, ${:.2}/h",
            p.total_gpus,
            p.total_cost / 100.0
        );
    }

    // Today's plan in the simulator, under today's traffic and under twice that.
    let checks = VerifyOptions {
        requests: 5_000,
        ..VerifyOptions::default()
    };
    println!("\ntoday's plan     workload          TTFT p99 ms  ITL mean ms  SLO met");
    for (what, scenario) in [("today", &today), ("traffic x2", &doubled)] {
        for v in verify(scenario, &plan_today, &checks) {
            println!(
                "{what:>10}  {:>16}  {:>12.1}  {:>11.1}  {}",
                v.workload,
                v.ttft_ms.p99,
                v.itl_ms.mean,
                if v.misses.is_empty() { "yes" } else { "no" }
            );
        }
    }
    Ok(())
}
