//! Routers on one fleet: the analytic model splits a workload's load evenly over its
//! replicas, as round-robin does; this section shows what the other routers of
//! `wva simulate --router` do to the same fleet.

use super::md::{Table, ms};
use super::{Options, Section, SectionId, ValidateError};
use crate::queueing::Targets;
use crate::sim::setup::{EngineOverrides, engine_config};
use crate::sim::{Generator, Horizon, Router, SimConfig, Traffic, run};
use crate::spec::{ArrivalProcess, LengthDist};
use rayon::prelude::*;

const REPLICAS: usize = 6;
const RATE_RPS: f64 = 56.0;
const PROMPT: f64 = 1155.0;
const OUTPUT: f64 = 211.0;

pub(super) fn section(options: &Options) -> Result<Section, ValidateError> {
    let qwen = super::sweep::shipped_profile(options, "Qwen/Qwen2.5-14B-Instruct", "H100")?;
    let engine = engine_config(&qwen, qwen.max_batch, &EngineOverrides::default());
    let exponential = LengthDist::Exponential { mean: OUTPUT };
    let fixed = LengthDist::Fixed { mean: OUTPUT };
    let cases = [
        (Router::RoundRobin, exponential, "exponential"),
        (Router::LeastOutstanding, exponential, "exponential"),
        (Router::PowerOfTwo, exponential, "exponential"),
        (Router::Random, exponential, "exponential"),
        (Router::RoundRobin, fixed, "fixed"),
        (Router::LeastOutstanding, fixed, "fixed"),
    ];
    let duration_s = if options.quick { 300.0 } else { 1800.0 };
    let rows: Vec<Vec<String>> = cases
        .par_iter()
        .map(|&(router, output, name)| {
            let mut config = SimConfig::one_group(
                "qwen",
                vec![engine.clone(); REPLICAS],
                Targets::default(),
                options.seed,
            );
            config.groups[0].router = router;
            let traffic = Traffic {
                rate_rps: RATE_RPS,
                arrivals: ArrivalProcess::Poisson,
                prompt: LengthDist::Fixed { mean: PROMPT },
                output,
            };
            let requests =
                Generator::new(&[traffic], Horizon::Duration(duration_s), 0.1, options.seed);
            let g = run(&config, requests, &mut |_| {})
                .map_err(|e| ValidateError::Internal(format!("routers: {e}")))?
                .groups
                .remove(0);
            Ok(vec![
                router.to_string(),
                name.to_string(),
                ms(g.ttft_ms.mean),
                ms(g.ttft_ms.p99),
                ms(g.itl_ms.mean),
            ])
        })
        .collect::<Result<_, ValidateError>>()?;
    let mut t = Table::new(
        &[
            "router",
            "output lengths",
            "mean TTFT ms",
            "p99 TTFT ms",
            "mean ITL ms",
        ],
        "llrrr",
    );
    for r in rows {
        t.row(r);
    }
    let body = format!(
        "The analytic model splits a workload's load evenly over its replicas, as `--router \
round-robin` (the default) does. {REPLICAS} {model}/{acc} replicas at {RATE_RPS:.0} req/s \
({per:.1} per replica), prompts of {PROMPT:.0} tokens, outputs of mean {OUTPUT:.0} tokens, \
{minutes:.0} minutes of Poisson arrivals:\n\n{table}\n\
Load-aware routers send consecutive arrivals to the same replica, whose next iteration then \
carries several prefills; with fixed output lengths, least-outstanding can lock replicas into \
step, their completions and so their admissions falling together.\n",
        model = qwen.model,
        acc = qwen.accelerator,
        per = RATE_RPS / REPLICAS as f64,
        minutes = duration_s / 60.0,
        table = t.render(),
    );
    Ok(Section {
        id: SectionId::Routers,
        title: "Routers".into(),
        body,
        checks: Vec::new(),
        figures: Vec::new(),
    })
}
