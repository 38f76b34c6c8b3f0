//! How well fitted parameters predict measurements: errors per observation kind and per file
//! (the file's mean per-unit time, e.g. the mean TPOT of a serving benchmark at one request
//! rate), and a seeded split into fitting and held-out observations.

use super::{Kind, Observation, fit::predict};
use crate::perf::PerfParams;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::Serialize;

/// Errors on the observations of one kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindError {
    /// The kind.
    pub kind: Kind,
    /// Observations.
    pub observations: usize,
    /// Mean absolute percentage error of the predicted times.
    pub mape: f64,
    /// Mean signed relative error (positive: predictions too slow).
    pub bias: f64,
}

/// The error on one file's mean per-unit time, for one kind of observation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileError {
    /// The file.
    pub file: String,
    /// The kind of observation.
    pub kind: Kind,
    /// Observations.
    pub observations: usize,
    /// What a unit is (`TPOT` for decode spans, else `iteration` or `batch`).
    pub unit: &'static str,
    /// Mean measured time per unit, ms.
    pub measured_ms: f64,
    /// Mean predicted time per unit, ms.
    pub predicted_ms: f64,
    /// (predicted - measured) / measured.
    pub relative_error: f64,
    /// Mean absolute percentage error over the file's observations.
    pub mape: f64,
}

/// Predictions against measurements.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// Observations.
    pub observations: usize,
    /// Mean absolute percentage error over all of them.
    pub mape: f64,
    /// By kind.
    pub by_kind: Vec<KindError>,
    /// By file.
    pub by_file: Vec<FileError>,
}

fn unit_of(kind: Kind) -> &'static str {
    match kind {
        Kind::DecodeSpan => "TPOT",
        Kind::Batch => "batch",
        Kind::Decode | Kind::Prefill | Kind::Mixed => "iteration",
    }
}

/// How well `params` predict `observations`; `files` names the files by index.
pub fn evaluate(params: &PerfParams, observations: &[Observation], files: &[String]) -> Evaluation {
    let predicted: Vec<f64> = observations
        .iter()
        .map(|o| predict(params, &o.work))
        .collect();
    let rel = |o: &Observation, p: f64| (p - o.time_ms) / o.time_ms;
    let mape_of = |idx: &[usize]| {
        idx.iter()
            .map(|&i| rel(&observations[i], predicted[i]).abs())
            .sum::<f64>()
            / idx.len().max(1) as f64
    };
    let all: Vec<usize> = (0..observations.len()).collect();
    let mut kinds: Vec<Kind> = Vec::new();
    for o in observations {
        if !kinds.contains(&o.kind) {
            kinds.push(o.kind);
        }
    }
    let by_kind = kinds
        .iter()
        .map(|&k| {
            let idx: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&i| observations[i].kind == k)
                .collect();
            KindError {
                kind: k,
                observations: idx.len(),
                mape: mape_of(&idx),
                bias: idx
                    .iter()
                    .map(|&i| rel(&observations[i], predicted[i]))
                    .sum::<f64>()
                    / idx.len() as f64,
            }
        })
        .collect();
    let mut groups: Vec<(usize, Kind)> = Vec::new();
    for o in observations {
        if !groups.contains(&(o.file, o.kind)) {
            groups.push((o.file, o.kind));
        }
    }
    groups.sort_by_key(|&(f, _)| f);
    let by_file = groups
        .iter()
        .map(|&(f, k)| {
            let idx: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&i| observations[i].file == f && observations[i].kind == k)
                .collect();
            let n = idx.len() as f64;
            let per_unit = |i: usize, t: f64| t / observations[i].per_unit.max(1e-12);
            let measured_ms = idx
                .iter()
                .map(|&i| per_unit(i, observations[i].time_ms))
                .sum::<f64>()
                / n;
            let predicted_ms = idx.iter().map(|&i| per_unit(i, predicted[i])).sum::<f64>() / n;
            FileError {
                file: files.get(f).cloned().unwrap_or_else(|| format!("#{f}")),
                kind: k,
                observations: idx.len(),
                unit: unit_of(k),
                measured_ms,
                predicted_ms,
                relative_error: (predicted_ms - measured_ms) / measured_ms,
                mape: mape_of(&idx),
            }
        })
        .collect();
    Evaluation {
        observations: observations.len(),
        mape: mape_of(&all),
        by_kind,
        by_file,
    }
}

/// Splits `observations` at random (seeded) into a fitting set and a held-out share
/// `holdout` (at least one observation each when there are two or more).
pub fn split(
    observations: Vec<Observation>,
    holdout: f64,
    seed: u64,
) -> (Vec<Observation>, Vec<Observation>) {
    let n = observations.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let held =
        ((n as f64 * holdout).round() as usize).clamp(usize::from(n >= 2), n.saturating_sub(1));
    let mut is_held = vec![false; n];
    for &i in &order[..held] {
        is_held[i] = true;
    }
    let (mut fit, mut test) = (Vec::new(), Vec::new());
    for (o, h) in observations.into_iter().zip(is_held) {
        if h { test.push(o) } else { fit.push(o) }
    }
    (fit, test)
}

#[cfg(test)]
mod tests {
    use super::super::Work;
    use super::*;
    use crate::perf::Gen2Params;

    fn obs(batch: f64, time_ms: f64, file: usize) -> Observation {
        Observation {
            work: Work::decode(batch, 100.0),
            time_ms,
            kind: Kind::Decode,
            batch,
            origin: "t".into(),
            file,
            per_unit: 1.0,
        }
    }

    #[test]
    fn exact_parameters_have_no_error_and_errors_are_signed() {
        let p = PerfParams::V2(Gen2Params {
            alpha_ms: 5.0,
            beta_ms_per_token: 0.1,
            gamma_ms_per_kv_token: 0.0,
        });
        let exact = [obs(1.0, 5.1, 0), obs(10.0, 6.0, 1)];
        let e = evaluate(&p, &exact, &["a".into(), "b".into()]);
        assert!(e.mape < 1e-12);
        assert_eq!(e.by_file.len(), 2);
        assert_eq!(e.by_file[1].file, "b");
        // Measured twice as slow: predictions 50% low.
        let slow = [obs(10.0, 12.0, 0)];
        let e = evaluate(&p, &slow, &["a".into()]);
        assert!((e.by_kind[0].bias + 0.5).abs() < 1e-12);
        assert!((e.by_file[0].relative_error + 0.5).abs() < 1e-12);
    }

    #[test]
    fn split_is_seeded_and_keeps_every_observation() {
        let all: Vec<Observation> = (0..100).map(|i| obs(f64::from(i), 1.0, 0)).collect();
        let (a, b) = split(all.clone(), 0.3, 7);
        assert_eq!((a.len(), b.len()), (70, 30));
        let (a2, _) = split(all.clone(), 0.3, 7);
        assert_eq!(a, a2);
        let (a3, _) = split(all, 0.3, 8);
        assert_ne!(a, a3);
        let (a, b) = split(vec![obs(1.0, 1.0, 0), obs(2.0, 1.0, 0)], 0.01, 1);
        assert_eq!((a.len(), b.len()), (1, 1));
    }
}
