//! A fit as a profiles file `wva plan` and `wva simulate` read, with a `source` that says
//! where the numbers come from and how well they fit.

use super::Fit;
use crate::perf::PerfParams;
use serde::Serialize;

/// Smallest `alpha` a profile accepts (the loader requires > 0).
const MIN_ALPHA_MS: f64 = 1e-6;

#[derive(Serialize)]
struct PerfBlock {
    model: &'static str,
    alpha: f64,
    beta: f64,
    gamma: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_num_batched_tokens: Option<u32>,
}

#[derive(Serialize)]
struct ProfileDoc {
    model: String,
    accelerator: String,
    gpus_per_replica: u32,
    max_batch: u32,
    perf: PerfBlock,
    provenance: &'static str,
    source: String,
}

#[derive(Serialize)]
struct ProfilesDoc {
    profiles: Vec<ProfileDoc>,
}

/// What the profile is for.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileInfo {
    /// Model name.
    pub model: String,
    /// Accelerator name.
    pub accelerator: String,
    /// GPUs per replica.
    pub gpus_per_replica: u32,
    /// Max batch to plan with.
    pub max_batch: u32,
    /// The files fitted.
    pub files: Vec<String>,
    /// Which rows of them (`model llama2-70b, tp 4`), if filtered.
    pub selection: Option<String>,
}

/// The profiles YAML of `fit`.
pub fn profile_yaml(fit: &Fit, info: &ProfileInfo) -> String {
    let p = &fit.parameters;
    let mut notes = String::new();
    let perf = match fit.params {
        PerfParams::V1(g) => PerfBlock {
            model: "wva-v1",
            alpha: g.alpha_ms.max(MIN_ALPHA_MS),
            beta: g.beta_ms_per_request,
            gamma: g.gamma_ms,
            delta: Some(g.delta_ms_per_token_request),
            max_num_batched_tokens: None,
        },
        PerfParams::V2(g) => PerfBlock {
            model: "wva-v2",
            alpha: g.alpha_ms.max(MIN_ALPHA_MS),
            beta: g.beta_ms_per_token,
            gamma: g.gamma_ms_per_kv_token,
            delta: None,
            max_num_batched_tokens: None,
        },
        PerfParams::V3(g) => PerfBlock {
            model: "wva-v3",
            alpha: g.iteration.alpha_ms.max(MIN_ALPHA_MS),
            beta: g.iteration.beta_ms_per_token,
            gamma: g.iteration.gamma_ms_per_kv_token,
            delta: None,
            max_num_batched_tokens: Some(g.max_num_batched_tokens),
        },
    };
    if p[0].value < MIN_ALPHA_MS {
        notes.push_str(" alpha fitted at 0 and written as 1e-6 (profiles need alpha > 0).");
    }
    let params: Vec<String> = p
        .iter()
        .map(|q| {
            if q.at_bound {
                format!("{} 0 (held at its bound)", q.name)
            } else {
                format!("{} {:.4e} ± {:.1e}", q.name, q.value, q.std_error)
            }
        })
        .collect();
    let mut source = format!(
        "wva estimate ({}, {}non-negative least squares on {} errors) on {}{}: {} observations at {} operating points, R² {:.4}, MAPE {:.1}%, RMSE {:.3} ms; {}.",
        fit.model.name(),
        if fit.robust { "robust (Huber) " } else { "" },
        if fit.relative { "relative" } else { "absolute" },
        info.files.join(", "),
        info.selection
            .as_ref()
            .map_or(String::new(), |s| format!(" ({s})")),
        fit.observations,
        fit.operating_points,
        fit.r_squared,
        fit.mape * 100.0,
        fit.rmse_ms,
        params.join(", ")
    );
    source.push_str(&notes);
    for w in &fit.warnings {
        source.push_str(" Warning: ");
        source.push_str(w);
        source.push('.');
    }
    let doc = ProfilesDoc {
        profiles: vec![ProfileDoc {
            model: info.model.clone(),
            accelerator: info.accelerator.clone(),
            gpus_per_replica: info.gpus_per_replica,
            max_batch: info.max_batch,
            perf,
            provenance: "estimated",
            source,
        }],
    };
    format!(
        "# Written by `wva estimate`; see its source field for the data and the fit.\n{}",
        serde_yaml::to_string(&doc).unwrap_or_default()
    )
}

#[derive(Serialize)]
struct CalibratedDoc {
    model: String,
    accelerator: String,
    gpus_per_replica: u32,
    max_batch: u32,
    perf: PerfBlock,
    #[serde(skip_serializing_if = "Option::is_none")]
    kv_capacity_tokens: Option<u64>,
    provenance: &'static str,
    source: String,
}

#[derive(Serialize)]
struct CalibratedProfiles {
    profiles: Vec<CalibratedDoc>,
}

/// The profiles YAML of a calibration through the simulator.
pub fn calibrated_profile_yaml(c: &super::calibrate::Calibration, info: &ProfileInfo) -> String {
    let max_num_batched_tokens = c.max_num_batched_tokens;
    let (model, p, budget) = match c.params {
        PerfParams::V3(g) => ("wva-v3", g.iteration, Some(g.max_num_batched_tokens)),
        PerfParams::V2(g) => ("wva-v2", g, None),
        PerfParams::V1(_) => return String::new(),
    };
    let errors: Vec<f64> = c
        .in_sample
        .iter()
        .map(|e| e.error.abs())
        .filter(|e| e.is_finite())
        .collect();
    let source = format!(
        "wva estimate --calibrate ({model} through the simulator, max_num_batched_tokens {max_num_batched_tokens} {}) on {}{}: {} statistics, mean absolute error {:.1}%, robust log loss {:.4}; KV capacity {}.",
        match c.budget_identified {
            super::calibrate::Identified::Given => "given",
            super::calibrate::Identified::Yes => "chosen by the data",
            super::calibrate::Identified::No => "chosen, but others fit almost as well",
        },
        info.files.join(", "),
        info.selection
            .as_ref()
            .map_or(String::new(), |s| format!(" ({s})")),
        c.in_sample.len(),
        100.0 * errors.iter().sum::<f64>() / errors.len().max(1) as f64,
        c.objective,
        match (c.kv_capacity_tokens, c.kv_identified) {
            (Some(_), super::calibrate::Identified::Given) => "given",
            (Some(_), _) => "fitted",
            (None, _) => "not determined by the data (unlimited)",
        }
    );
    let doc = CalibratedProfiles {
        profiles: vec![CalibratedDoc {
            model: info.model.clone(),
            accelerator: info.accelerator.clone(),
            gpus_per_replica: info.gpus_per_replica,
            max_batch: info.max_batch,
            perf: PerfBlock {
                model,
                alpha: p.alpha_ms.max(MIN_ALPHA_MS),
                beta: p.beta_ms_per_token,
                gamma: p.gamma_ms_per_kv_token,
                delta: None,
                max_num_batched_tokens: budget,
            },
            kv_capacity_tokens: c.kv_capacity_tokens,
            provenance: "estimated",
            source,
        }],
    };
    format!(
        "# Written by `wva estimate --calibrate`; see its source field for the data and the fit.\n{}",
        serde_yaml::to_string(&doc).unwrap_or_default()
    )
}
