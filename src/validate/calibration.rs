//! Calibration through the simulator (`wva estimate`'s default for load tests) against held-out
//! measurements: the llm-d-benchmark sweep left one rate out at a time, and upstream's
//! Qwen2.5-14B/H100 concurrency curve fitted on its low-concurrency rows and predicted above.

use super::md::{Table, ms, pct};
use super::{Check, Options, Section, SectionId, ValidateError, existing};
use crate::estimate::calibrate::Calibration;
use crate::estimate::calibrate::{Engine, Evidence, Search, StatError, evaluate, saturation};
use crate::estimate::load_tests::{DEFAULT_MAX_NUM_SEQS, calibrate_files, evidence};
use crate::estimate::read::ColumnMap;
use crate::estimate::read::{Filters, SourceFormat};
use crate::estimate::sweep::{Drive, read_csv};
use crate::perf::{DEFAULT_MAX_NUM_BATCHED_TOKENS, PerfModelKind, PerfParams};
use std::path::PathBuf;

/// The Qwen curve's rows fitted: at most this many clients.
const FIT_UP_TO_CLIENTS: u32 = 16;

fn engine(max_num_seqs: u32) -> Engine {
    Engine {
        max_num_seqs,
        max_num_batched_tokens: DEFAULT_MAX_NUM_BATCHED_TOKENS,
        block_size: crate::sim::DEFAULT_BLOCK_SIZE,
        kv_capacity_tokens: None,
    }
}

/// The errors of a calibration on held-out evidence (with its budget and cache).
fn held_out(c: &Calibration, held: &[Evidence], max_num_seqs: u32, seed: u64) -> Vec<StatError> {
    evaluate(
        held,
        c.params,
        Engine {
            max_num_batched_tokens: c.max_num_batched_tokens,
            kv_capacity_tokens: c.kv_capacity_tokens,
            ..engine(max_num_seqs)
        },
        seed,
    )
}

fn parameters(c: &Calibration) -> String {
    let (PerfParams::V2(p) | PerfParams::V3(crate::perf::Gen3Params { iteration: p, .. })) =
        c.params
    else {
        return String::new();
    };
    format!(
        "alpha {:.2} ms, beta {:.4} ms/token, gamma {:.2e} ms/KV token, budget {}, KV {}",
        p.alpha_ms,
        p.beta_ms_per_token,
        p.gamma_ms_per_kv_token,
        c.max_num_batched_tokens,
        c.kv_capacity_tokens
            .map_or("unlimited".to_string(), |k| format!("{k} tokens"))
    )
}

pub(super) fn section(options: &Options) -> Result<Section, ValidateError> {
    let search = Search {
        seed: options.seed,
        ..Search::default()
    };
    let filters = Filters {
        replicas: 1,
        max_num_batched_tokens: DEFAULT_MAX_NUM_BATCHED_TOKENS,
        ..Filters::default()
    };
    let input = |e: crate::estimate::EstimateError| ValidateError::Input(e.to_string());

    // llm-d: leave one rate out.
    let files = super::lmbench::files(options)?;
    let mut llmd = Table::new(
        &[
            "held-out QPS",
            "saturated",
            "TTFT p50 measured ms",
            "predicted",
            "diff",
            "mean TPOT measured ms",
            "predicted",
            "diff",
            "calibrated on the other five",
        ],
        "rlrrrrrrl",
    );
    let (mut ttft_errors, mut tpot_errors) = (Vec::new(), Vec::new());
    for (qps, path) in &files {
        let others: Vec<PathBuf> = files
            .iter()
            .filter(|(_, p)| p != path)
            .map(|(_, p)| p.clone())
            .collect();
        let (c, _) = calibrate_files(
            &others,
            Some(SourceFormat::Lmbench),
            &filters,
            PerfModelKind::V3,
            engine(DEFAULT_MAX_NUM_SEQS),
            false,
            search,
        )
        .map_err(input)?;
        let held = evidence(
            std::slice::from_ref(path),
            Some(SourceFormat::Lmbench),
            &filters,
        )
        .map_err(input)?;
        let saturated = match &held[0] {
            Evidence::Run(r) => saturation(&r.records, &r.measured),
            Evidence::Row(_) => None,
        };
        let errors = held_out(&c, &held, DEFAULT_MAX_NUM_SEQS, options.seed);
        let (ttft, tpot) = (&errors[0], &errors[1]);
        if saturated.is_none() {
            ttft_errors.push(ttft.error);
            tpot_errors.push(tpot.error);
        }
        llmd.row(vec![
            format!("{qps}"),
            saturated.unwrap_or_else(|| "no".into()),
            ms(ttft.measured_ms),
            ms(ttft.predicted_ms),
            pct(ttft.error),
            ms(tpot.measured_ms),
            ms(tpot.predicted_ms),
            pct(tpot.error),
            parameters(&c),
        ]);
    }

    // The Qwen curve: fit on the rows of at most 16 clients, predict the steady rows above.
    let curve = existing(options.reference_dir.join(super::run16::CURVE))?;
    let measured = super::run16::read_curve(&curve)?;
    let rows = read_csv(&curve, &ColumnMap::default(), 0).map_err(input)?;
    if rows.len() != measured.len() {
        return Err(ValidateError::input(
            &curve,
            "the sweep reader and the curve reader disagree on the rows",
        ));
    }
    let clients = |r: &crate::estimate::sweep::SweepRow| match r.drive {
        Drive::Concurrency(c) => c,
        Drive::RateRps(_) | Drive::FleetRateRps(_) => 0,
    };
    let fit_rows: Vec<Evidence> = rows
        .iter()
        .filter(|r| clients(r) <= FIT_UP_TO_CLIENTS)
        .cloned()
        .map(Evidence::Row)
        .collect();
    let held: Vec<(Evidence, bool)> = rows
        .iter()
        .zip(&measured)
        .filter(|(r, _)| clients(r) > FIT_UP_TO_CLIENTS)
        .map(|(r, m)| (Evidence::Row(r.clone()), m.steady()))
        .collect();
    let qwen_seqs =
        super::sweep::shipped_profile(options, "Qwen/Qwen2.5-14B-Instruct", "H100")?.max_batch;
    let c = crate::estimate::calibrate::calibrate_budget(
        &fit_rows,
        PerfModelKind::V3,
        crate::estimate::load_tests::start(
            std::slice::from_ref(&curve),
            Some(SourceFormat::Sweep),
            &filters,
            DEFAULT_MAX_NUM_BATCHED_TOKENS,
        ),
        engine(qwen_seqs),
        false,
        search,
    )
    .map_err(|e| input(e.into()))?;
    let held_evidence: Vec<Evidence> = held.iter().map(|h| h.0.clone()).collect();
    let errors = held_out(&c, &held_evidence, qwen_seqs, options.seed);
    let mut qwen = Table::new(
        &[
            "row",
            "load",
            "steady",
            "statistic",
            "measured ms",
            "predicted",
            "diff",
        ],
        "llllrrr",
    );
    let (mut itl_errors, mut qwen_ttft_errors) = (Vec::new(), Vec::new());
    for e in &errors {
        let steady = held
            .iter()
            .find(|h| h.0.origin() == e.origin)
            .is_some_and(|h| h.1);
        if steady {
            if e.statistic.contains("TTFT") {
                qwen_ttft_errors.push(e.error);
            } else {
                itl_errors.push(e.error);
            }
        }
        qwen.row(vec![
            e.origin.rsplit('/').next().unwrap_or_default().to_string(),
            e.load.clone(),
            if steady { "yes" } else { "no" }.into(),
            e.statistic.clone(),
            ms(e.measured_ms),
            ms(e.predicted_ms),
            pct(e.error),
        ]);
    }

    let checks = vec![
        Check::worst(
            "llm-d 70B/A100: calibrated on five rates, TTFT p50 of the sixth, every held-out rate below saturation",
            &ttft_errors,
            0.20,
        ),
        Check::worst(
            "llm-d 70B/A100: calibrated on five rates, mean TPOT of the sixth, every held-out rate below saturation",
            &tpot_errors,
            0.15,
        ),
        Check::worst(
            "Qwen2.5-14B/H100 curve: calibrated on <= 16 clients, mean ITL at 32-128 clients (steady rows)",
            &itl_errors,
            0.15,
        ),
        Check::worst(
            "Qwen2.5-14B/H100 curve: calibrated on <= 16 clients, mean TTFT at 32-128 clients (steady rows)",
            &qwen_ttft_errors,
            0.25,
        ),
    ];
    let body = format!(
        "`wva estimate` calibrates load tests through the simulator by default ([estimate.md](estimate.md#from-my-benchmark-to-a-profile-i-can-trust)): \
every per-request log replayed, every summary row rerun as its benchmark ran, and the cost parameters, the token budget (among vLLM's defaults) and, where a log saturates, the KV capacity searched to match TTFT and TPOT together. \
Here it is scored on data it did not see.\n\n\
### llm-d-benchmark, one rate left out at a time\n\n\
The six files of the llm-d sweep (Llama-3.1-70B on 2x A100, one replica): calibrated on five, the sixth replayed with the result. \
A held-out rate counts for the targets when it is below saturation (the same test `wva estimate` applies: it served at least 90% of the rate offered and its TTFT median did not triple over the run).\n\n{}\n\
### Qwen2.5-14B/H100: low concurrency to high\n\n\
Upstream's curve read as a sweep table as it is (`shape`, `concurrency`, `achieved_rpm`, `itl_ms`, `ttft_ms`), with the shipped profile's max batch ({qwen_seqs}): calibrated on the {} rows of at most {FIT_UP_TO_CLIENTS} clients ({}), and the rows above predicted. \
Rows that are not steady (more requests running than clients, or a full cache; see the curve's own section) are shown but do not count.\n\n{}\n\
Why the curve's targets are missed, where they are: a few rows at 4 to 16 clients, two of them contradicting each other at 4 clients (one sampled with more requests running than clients), do not determine how the iteration cost grows with the batch, and the search trades the KV-read cost against the token budget to match the low-concurrency TTFTs. \
The measured TTFT keeps growing with the clients up to about 48 of them; the simulated closed loop's grows far less. See [estimate.md](estimate.md#from-my-benchmark-to-a-profile-i-can-trust) for what was tried.\n",
        llmd.render(),
        fit_rows.len(),
        parameters(&c),
        qwen.render(),
    );
    Ok(Section {
        id: SectionId::Calibration,
        title: "Calibration through the simulator, on held-out runs".into(),
        body,
        checks,
        figures: Vec::new(),
    })
}
