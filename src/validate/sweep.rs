//! The analytic model against the simulator over a sweep of load, for the golden vector of
//! `domain.md` and every shipped profile at two request shapes: mean and p99 TTFT and ITL.

use super::md::{Table, ms, pct};
use super::{Check, Figure, Options, Section, SectionId, ValidateError};
use crate::perf::{PerfModelKind, RequestShape};
use crate::report::plot::{Panel, Series};
use crate::sim::agreement::{AgreementPoint, analytic_model, compare, golden_profile};
use crate::spec::{Profile, load_profiles};
use rayon::prelude::*;

const LOADS: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
/// The shapes every shipped profile is checked at (prompt x output tokens): a chat-like
/// request and a short one (where the definition of TTFT weighs most).
const SHAPES: [(f64, f64); 2] = [(1024.0, 512.0), (256.0, 64.0)];
/// Loads below this share of the maximum rate are where the targets apply.
const TARGET_BELOW: f64 = 0.8;
const MEAN_BOUND: f64 = 0.05;

/// One load point: the comparison and the tail model's figures at its rate.
struct Point {
    sim: AgreementPoint,
    /// The tail model's p99 TTFT, ms.
    ttft_p99_ms: f64,
    /// The tail model's p99 ITL, ms.
    itl_p99_ms: f64,
    /// The tail model's mean TTFT (vLLM's definition), ms.
    ttft_mean_engine_ms: f64,
}

/// One profile at one shape: the points, with the analytic p99s.
struct Case {
    label: String,
    gen1: bool,
    shape: RequestShape,
    points: Vec<Point>,
}

/// Every profile in the `.yaml` files of `dir` that hold profiles (others are skipped).
pub(super) fn shipped_profiles(dir: &std::path::Path) -> Result<Vec<Profile>, ValidateError> {
    let dir = super::existing(dir.to_path_buf())?;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| ValidateError::input(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| ValidateError::input(&f, e))?;
        if !text
            .lines()
            .any(|l| l.trim_start().starts_with("profiles:"))
        {
            continue;
        }
        out.extend(load_profiles(&f).map_err(|e| ValidateError::Input(e.to_string()))?);
    }
    if out.is_empty() {
        return Err(ValidateError::input(&dir, "no profiles found"));
    }
    Ok(out)
}

/// The shipped profile of `model` on `accelerator`.
pub(super) fn shipped_profile(
    options: &Options,
    model: &str,
    accelerator: &str,
) -> Result<Profile, ValidateError> {
    shipped_profiles(&options.profiles_dir)?
        .into_iter()
        .find(|p| p.model == model && p.accelerator == accelerator)
        .ok_or_else(|| {
            ValidateError::input(
                &options.profiles_dir,
                format!("no {model} profile on {accelerator}"),
            )
        })
}

fn run_case(
    profile: &Profile,
    shape: RequestShape,
    options: &Options,
) -> Result<Case, ValidateError> {
    let internal = |e: String| ValidateError::Internal(format!("{}: {e}", profile.model));
    let points = compare(
        profile,
        shape,
        &LOADS,
        options.requests(100_000),
        options.seed,
    )
    .map_err(|e| internal(e.to_string()))?;
    let model = analytic_model(profile, shape).map_err(|e| internal(e.to_string()))?;
    let tails: Vec<(f64, f64, f64)> = points
        .par_iter()
        .map(|p| {
            (
                model
                    .ttft_quantile_ms(p.rate_rps, 0.99)
                    .unwrap_or(f64::INFINITY),
                model.itl_quantile_ms(p.rate_rps, 0.99).unwrap_or(f64::NAN),
                model
                    .ttft_mean_engine_ms(p.rate_rps)
                    .unwrap_or(f64::INFINITY),
            )
        })
        .collect();
    Ok(Case {
        label: format!("{} on {}", profile.model, profile.accelerator),
        gen1: profile.perf.kind() == PerfModelKind::V1,
        shape,
        points: points
            .into_iter()
            .zip(tails)
            .map(
                |(sim, (ttft_p99_ms, itl_p99_ms, ttft_mean_engine_ms))| Point {
                    sim,
                    ttft_p99_ms,
                    itl_p99_ms,
                    ttft_mean_engine_ms,
                },
            )
            .collect(),
    })
}

/// Signed relative errors of the model, the simulator as the reference, at loads below the
/// target bound.
fn errors(case: &Case, f: impl Fn(&Point) -> (f64, f64)) -> Vec<f64> {
    case.points
        .iter()
        .filter(|p| p.sim.load_fraction < TARGET_BELOW - 1e-9)
        .map(|p| {
            let (sim, model) = f(p);
            model / sim - 1.0
        })
        .collect()
}

/// The error largest in absolute value, NaN when any is undefined (shown as n/a).
pub(super) fn worst(errors: &[f64]) -> f64 {
    if errors.iter().any(|e| !e.is_finite()) {
        f64::NAN
    } else {
        super::md::worst_finite(errors)
    }
}

pub(super) fn section(options: &Options) -> Result<Section, ValidateError> {
    let mut jobs = vec![(
        golden_profile(),
        RequestShape {
            prompt_tokens: 128.0,
            output_tokens: 512.0,
        },
    )];
    for p in shipped_profiles(&options.profiles_dir)? {
        for (prompt, output) in SHAPES {
            jobs.push((
                p.clone(),
                RequestShape {
                    prompt_tokens: prompt,
                    output_tokens: output,
                },
            ));
        }
    }
    let cases: Vec<Case> = jobs
        .iter()
        .map(|(p, s)| run_case(p, *s, options))
        .collect::<Result<_, _>>()?;

    let shape_of = |c: &Case| {
        format!(
            "{:.0} x {:.0}",
            c.shape.prompt_tokens, c.shape.output_tokens
        )
    };
    let mut summary = Table::new(
        &[
            "profile",
            "shape",
            "mean TTFT (upstream's)",
            "mean TTFT vs wait + prefill",
            "mean TTFT vs tail model (vLLM's definition)",
            "p99 TTFT",
            "mean ITL",
            "p99 ITL",
        ],
        "llrrrrrr",
    );
    let mut checks = Vec::new();
    let (mut gen1_ttft, mut gen1_itl) = (Vec::new(), Vec::new());
    for c in &cases {
        let ttft = errors(c, |p| (p.sim.sim_ttft_ms.mean, p.sim.analytic_ttft_ms()));
        let prefill_end = errors(c, |p| {
            (p.sim.sim_ttft_ms.mean, p.sim.analytic_prefill_end_ms())
        });
        let engine = errors(c, |p| (p.sim.sim_ttft_ms.mean, p.ttft_mean_engine_ms));
        let ttft99 = errors(c, |p| (p.sim.sim_ttft_ms.p99, p.ttft_p99_ms));
        let itl = errors(c, |p| (p.sim.sim_itl_ms.mean, p.sim.analytic.itl_ms));
        let itl99 = errors(c, |p| (p.sim.sim_itl_ms.p99, p.itl_p99_ms));
        summary.row(vec![
            c.label.clone(),
            shape_of(c),
            pct(worst(&ttft)),
            pct(worst(&prefill_end)),
            pct(worst(&engine)),
            pct(worst(&ttft99)),
            pct(worst(&itl)),
            pct(worst(&itl99)),
        ]);
        if c.gen1 {
            gen1_ttft.extend(ttft);
            gen1_itl.extend(itl);
            continue;
        }
        let name = format!("{}, {}", c.label, shape_of(c));
        checks.push(Check::worst(
            format!("{name}: mean TTFT (upstream's definition, as wva plan sizes it), analytic vs simulator, loads 10-70%"),
            &ttft,
            MEAN_BOUND,
        ));
        checks.push(Check::worst(
            format!("{name}: mean TTFT (vLLM's definition, tail model), analytic vs simulator, loads 10-70%"),
            &engine,
            MEAN_BOUND,
        ));
        checks.push(Check::worst(
            format!("{name}: mean ITL, analytic vs simulator, loads 10-70%"),
            &itl,
            MEAN_BOUND,
        ));
    }
    if !gen1_ttft.is_empty() {
        let n = cases.iter().filter(|c| c.gen1).count();
        checks.push(Check::worst(
            format!("gen-1 chart profiles ({n} profile-shape cases): mean TTFT, analytic vs simulator, loads 10-70%"),
            &gen1_ttft,
            MEAN_BOUND,
        ));
        checks.push(Check::worst(
            format!("gen-1 chart profiles ({n} profile-shape cases): mean ITL, analytic vs simulator, loads 10-70%"),
            &gen1_itl,
            MEAN_BOUND,
        ));
    }

    let mut points = Table::new(
        &[
            "profile",
            "shape",
            "load",
            "rate req/s",
            "mean TTFT sim",
            "analytic",
            "diff",
            "p99 TTFT sim",
            "tail model",
            "diff",
            "mean ITL sim",
            "analytic",
            "diff",
            "p99 ITL sim",
            "tail model",
            "diff",
        ],
        "llrrrrrrrrrrrrrr",
    );
    for c in &cases {
        for Point {
            sim: p,
            ttft_p99_ms: t99,
            itl_p99_ms: i99,
            ..
        } in &c.points
        {
            points.row(vec![
                c.label.clone(),
                shape_of(c),
                format!("{:.0}%", p.load_fraction * 100.0),
                format!("{:.3}", p.rate_rps),
                ms(p.sim_ttft_ms.mean),
                ms(p.analytic_ttft_ms()),
                pct(p.analytic_ttft_ms() / p.sim_ttft_ms.mean - 1.0),
                ms(p.sim_ttft_ms.p99),
                ms(*t99),
                pct(t99 / p.sim_ttft_ms.p99 - 1.0),
                ms(p.sim_itl_ms.mean),
                ms(p.analytic.itl_ms),
                pct(p.analytic.itl_ms / p.sim_itl_ms.mean - 1.0),
                ms(p.sim_itl_ms.p99),
                ms(*i99),
                pct(i99 / p.sim_itl_ms.p99 - 1.0),
            ]);
        }
    }

    let mut panels = Vec::new();
    for c in cases.iter().filter(|c| !c.gen1) {
        let line = |name: &str, color: usize, light: bool, f: &dyn Fn(&Point) -> f64| Series {
            name: name.into(),
            color,
            light,
            points: c
                .points
                .iter()
                .map(|p| (p.sim.load_fraction, f(p)))
                .collect(),
        };
        panels.push(Panel {
            title: format!("{}, {}: TTFT", c.label, shape_of(c)),
            y_label: "ms".into(),
            x_label: None,
            series: vec![
                line("mean, simulated", 0, false, &|p| p.sim.sim_ttft_ms.mean),
                line("mean, analytic (upstream's)", 0, true, &|p| {
                    p.sim.analytic_ttft_ms()
                }),
                line("mean, tail model", 4, true, &|p| p.ttft_mean_engine_ms),
                line("p99, simulated", 2, false, &|p| p.sim.sim_ttft_ms.p99),
                line("p99, tail model", 2, true, &|p| p.ttft_p99_ms),
            ],
        });
        panels.push(Panel {
            title: format!("{}, {}: ITL", c.label, shape_of(c)),
            y_label: "ms".into(),
            x_label: None,
            series: vec![
                line("mean, simulated", 1, false, &|p| p.sim.sim_itl_ms.mean),
                line("mean, analytic", 1, true, &|p| p.sim.analytic.itl_ms),
                line("p99, simulated", 3, false, &|p| p.sim.sim_itl_ms.p99),
                line("p99, tail model", 3, true, &|p| p.itl_p99_ms),
            ],
        });
    }

    let body = format!(
        "One replica of each profile at its max batch, requests of a fixed shape (the analytic \
model knows only the means), Poisson arrivals at 10% to 90% of the analytic model's maximum \
rate, {requests} requests per point (10% warm-up), unlimited KV cache (the analytic model \
has none). The golden vector of `domain.md` and every profile shipped in `profiles/`, each at \
{shapes}. Means are upstream's formulas (`wva plan`'s default M/M/1/K chain; TTFT as \
upstream defines it: wait + prefill + one ITL); p99s are the tail model that sizes \
percentile SLOs ([plan.md](plan.md#percentile-slos)).\n\n\
### Worst difference below 80% load\n\n\
The model's error with the simulator as the reference (analytic over simulated, minus one), \
the largest in absolute value over the loads 10% to 70%. \
The target is 5% for the means.\n\n{summary}\n\
Why the misses:\n\
- **Mean TTFT as upstream defines it.** Upstream's analytic TTFT, which `wva plan` sizes \
mean TTFT targets on, is `wait + prefill + ITL`: the time to the first *decode* step after the \
prefill. vLLM emits the first token at the end of the iteration that completes the prefill, \
and so does the simulator, which lies between `wait + prefill` and upstream's figure: the \
extra decode step weighs most where the prefill is short. Upstream's definition is \
conservative, so plans sized on it are safe, at the price of some over-provisioning for short \
prompts. The tail model (which sizes percentile targets) follows vLLM's definition: an \
arrival waits out the iteration in flight and rides the next one with the prompts that \
arrived meanwhile; its mean is the column \"vs tail model\".\n\
- **Near saturation** (80-90%) the analytic M/M/1/K queue, with exponential service, \
overstates the wait of these fixed-length requests (see the queue models below).\n\
- **Gen-1 profiles** (`wva-v1`, WVA v0.4's chart examples) price a batch's prefill as \
`gamma + delta x prompt x batch`, paid once for a batch that prefills together. In \
continuous batching nearly every iteration carries a prefill and each pays `gamma`, so a \
large `gamma` (the L40S and H100 examples) stalls every running request: ITL is many times \
the analytic figure and the replica saturates far below the analytic maximum rate. The A100 \
example's small `gamma` and max batch of 4 keep its ITL close, but not its TTFT. These parameters do not describe a \
continuous-batching engine; fit gen-2 or gen-3 parameters with `wva estimate`. They are left \
out of the plot.\n\
- **p99s** come from an approximation (iterations carrying Poisson prefills over the chain's \
batch distribution). The ITL p99 is a cliff between a decode step and a prefill-carrying one, so small shifts of \
the batch distribution move it a lot.\n\n\
### Every point\n\n\
Latencies in ms; diff is analytic over simulated, minus one.\n\n{points}",
        requests = options.requests(100_000),
        shapes = SHAPES
            .iter()
            .map(|(i, o)| format!("{i:.0} x {o:.0} tokens"))
            .collect::<Vec<_>>()
            .join(" and "),
        summary = summary.render(),
        points = points.render(),
    );
    Ok(Section {
        id: SectionId::Analytic,
        title: "The analytic model against the simulator".into(),
        body,
        checks,
        figures: vec![Figure {
            file: "validate-analytic.svg".into(),
            x_label: "load (share of the analytic max rate)".into(),
            panels,
        }],
    })
}
