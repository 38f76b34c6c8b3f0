//! Observations from production (`wva observe --observations-out`): one row per variant and
//! step, with the step's completions, rate, token means, mean TTFT and mean inter-token
//! latency. Steps are grouped into load levels (by rate per replica, at most [`MAX_LEVELS`]
//! per replica count), each level's figures the exact aggregate of its steps (TTFT weighted by
//! requests, ITL by inter-token gaps), and every level becomes a sweep row driven at its rate
//! over its replicas ([`Drive::FleetRateRps`]), which calibration runs through the simulator.
//!
//! Left out: each variant's first step (its counters may cover time before the range), steps
//! where the replica count changed (a replica starting or stopping mid-step) or the load did
//! (completions differing from a neighbouring step's by more than three standard deviations of
//! Poisson noise: a transition, not a steady state), and steps with fewer than
//! [`MIN_REQUESTS`] completions.

use super::read::Filters;
use super::sweep::{Drive, SweepRow, TokenStat, TtftStat};
use crate::error::{Field, request_error};
use crate::estimate::EstimateError;
use std::collections::BTreeMap;
use std::path::Path;

/// Most load levels per replica count (each is simulated at every calibration evaluation).
pub const MAX_LEVELS: usize = 12;

/// Fewest completions a step needs to count.
pub const MIN_REQUESTS: f64 = 5.0;

/// Whether a CSV header (lowercase names) is an observations file.
pub fn looks_like_observations(header: &[String]) -> bool {
    [
        "model", "variant", "replicas", "requests", "rate_rps", "itl_ms",
    ]
    .iter()
    .all(|c| header.iter().any(|h| h == c))
}

/// An observations file, read.
#[derive(Clone, Debug, PartialEq)]
pub struct Observations {
    /// The model of the rows kept.
    pub model: String,
    /// Their accelerator, when the file names one.
    pub accelerator: Option<String>,
    /// The load levels, as sweep rows.
    pub rows: Vec<SweepRow>,
    /// The KV capacity per replica the KV usage implies (tokens), and from how many steps:
    /// the median over steps at least [`MIN_KV_USAGE`] full of `running x (prompt + output/2)
    /// / kv_usage` (a running request holds its prompt and, on average, half its output).
    pub kv_capacity: Option<(u64, usize)>,
}

/// The least KV usage (0-1) a step needs for the capacity estimate (below it, block rounding
/// and prefills in flight weigh too much).
pub const MIN_KV_USAGE: f64 = 0.01;

/// Reads an observations file: [`read`] with the model, accelerator and KV capacity.
pub fn observations(
    path: &Path,
    filters: &Filters,
    file: usize,
) -> Result<Observations, EstimateError> {
    read_with_identity(path, filters, file)
}

/// One usable step.
#[derive(Clone, Debug)]
struct StepRow {
    line: u64,
    replicas: u32,
    requests: f64,
    rate_rps: f64,
    prompt: f64,
    output: f64,
    ttft_ms: Option<f64>,
    itl_ms: Option<f64>,
    running: Option<f64>,
    kv_usage: Option<f64>,
}

/// Reads an observations file into sweep rows (file index `file`), keeping the model and
/// accelerator `filters` choose; several models or accelerators without a filter are refused.
pub fn read(path: &Path, filters: &Filters, file: usize) -> Result<Vec<SweepRow>, EstimateError> {
    read_with_identity(path, filters, file).map(|o| o.rows)
}

/// [`read`], with the model and accelerator of the rows.
fn read_with_identity(
    path: &Path,
    filters: &Filters,
    file: usize,
) -> Result<Observations, EstimateError> {
    let (name, mut reader, header) = super::sweep::open_csv(path)?;
    if !looks_like_observations(&header) {
        return Err(format!(
            "{name}: not a `wva observe --observations-out` file (needs model, variant, replicas, requests, rate_rps, itl_ms); the header has: {}",
            crate::limits::list(&header)
        ).into());
    }
    let col = |c: &str| header.iter().position(|h| h == c);
    let need = |c: &str| col(c).ok_or_else(|| format!("{name}: no `{c}` column"));
    let (model_c, variant_c, acc_c) = (need("model")?, need("variant")?, col("accelerator"));
    let (replicas_c, requests_c, rate_c) =
        (need("replicas")?, need("requests")?, need("rate_rps")?);
    let (prompt_c, output_c) = (need("prompt_tokens")?, need("output_tokens")?);
    let (ttft_c, itl_c) = (col("ttft_ms"), need("itl_ms")?);
    let (running_c, kv_c) = (col("running"), col("kv_usage"));

    // (model, accelerator) -> variant -> steps in file order.
    let mut groups: BTreeMap<(String, String), BTreeMap<String, Vec<StepRow>>> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("{name}: unreadable row: {e}"))?;
        let line = record.position().map_or(0, |p| p.line());
        let text = |i: usize| record.get(i).unwrap_or("").trim();
        let number = |i: usize, what: &str| -> Result<Option<f64>, EstimateError> {
            let t = text(i);
            if t.is_empty() || t.eq_ignore_ascii_case("nan") {
                return Ok(None);
            }
            match t.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
                _ => Err(format!(
                    "{name}:{line}: {what}: expected a number >= 0, got {}",
                    crate::limits::quote(t)
                )
                .into()),
            }
        };
        let model = text(model_c).to_string();
        let accelerator = acc_c.map(|i| text(i).to_string()).unwrap_or_default();
        if let Some(m) = &filters.model
            && !model.to_ascii_lowercase().contains(&m.to_ascii_lowercase())
        {
            continue;
        }
        if let Some(h) = &filters.hardware
            && !accelerator
                .to_ascii_lowercase()
                .contains(&h.to_ascii_lowercase())
        {
            continue;
        }
        let replicas = number(replicas_c, "replicas")?.unwrap_or(0.0);
        if replicas < 1.0
            || replicas.fract() != 0.0
            || replicas > f64::from(crate::limits::MAX_REPLICAS)
        {
            return Err(format!(
                "{name}:{line}: replicas: expected a whole number from 1 to {}",
                crate::limits::MAX_REPLICAS
            )
            .into());
        }
        let row = StepRow {
            line,
            replicas: replicas as u32,
            requests: number(requests_c, "requests")?.unwrap_or(0.0),
            rate_rps: crate::limits::at_most(
                number(rate_c, "rate_rps")?.unwrap_or(0.0),
                crate::limits::MAX_RATE_RPS,
            )
            .map_err(|e| format!("{name}:{line}: rate_rps: {e}"))?,
            prompt: number(prompt_c, "prompt_tokens")?.unwrap_or(0.0),
            output: number(output_c, "output_tokens")?.unwrap_or(0.0),
            ttft_ms: match ttft_c {
                Some(i) => number(i, "ttft_ms")?,
                None => None,
            },
            itl_ms: number(itl_c, "itl_ms")?,
            running: match running_c {
                Some(i) => number(i, "running")?,
                None => None,
            },
            kv_usage: match kv_c {
                Some(i) => number(i, "kv_usage")?.filter(|v| *v <= 1.0),
                None => None,
            },
        };
        groups
            .entry((model, accelerator))
            .or_default()
            .entry(text(variant_c).to_string())
            .or_default()
            .push(row);
    }
    if groups.len() > 1 {
        let found: Vec<String> = groups
            .keys()
            .map(|(m, a)| {
                if a.is_empty() {
                    m.clone()
                } else {
                    format!("{m} on {a}")
                }
            })
            .collect();
        return Err(request_error!(
            format!(
                "{name}: observations of {} models or accelerators ({}): choose one with ",
                found.len(),
                crate::limits::list(&found)
            ),
            Field("model"),
            " and ",
            Field("hardware")
        )
        .into());
    }
    let Some(((model, accelerator), variants)) = groups.into_iter().next() else {
        return Err(if filters.model.is_some() || filters.hardware.is_some() {
            request_error!(
                format!("{name}: no observation matches "),
                Field("model"),
                "/",
                Field("hardware")
            )
            .into()
        } else {
            format!("{name}: no observation").into()
        });
    };
    // Usable steps, by replica count.
    let mut by_replicas: BTreeMap<u32, Vec<StepRow>> = BTreeMap::new();
    for steps in variants.into_values() {
        for (k, s) in steps.iter().enumerate() {
            // The load did not change within the step: its completions differ from each
            // neighbour's by no more than Poisson noise (three standard deviations), so the
            // step is a steady state a Poisson level can stand for, not a transition.
            let like = |o: &StepRow| {
                o.replicas == s.replicas
                    && (s.requests - o.requests).abs() <= 3.0 * (s.requests + o.requests).sqrt()
            };
            let steady = k > 0 && like(&steps[k - 1]) && steps.get(k + 1).is_none_or(like);
            if steady
                && s.requests >= MIN_REQUESTS
                && s.rate_rps > 0.0
                && s.prompt >= 1.0
                && s.output >= 2.0
                && s.itl_ms.is_some_and(|v| v > 0.0)
            {
                by_replicas.entry(s.replicas).or_default().push(s.clone());
            }
        }
    }
    let mut rows = Vec::new();
    for (&replicas, steps) in &by_replicas {
        let mut steps = steps.clone();
        steps.sort_by(|a, b| a.rate_rps.total_cmp(&b.rate_rps));
        let levels = MAX_LEVELS.min(steps.len());
        for level in 0..levels {
            let part = &steps[level * steps.len() / levels..(level + 1) * steps.len() / levels];
            rows.push(aggregate(part, replicas, &name, file));
        }
    }
    if rows.is_empty() {
        return Err(format!(
            "{name}: no step with at least {MIN_REQUESTS} completions, token means and an inter-token latency, after the first step of each variant and steps where the replica count or the load changed"
        ).into());
    }
    let mut capacities: Vec<f64> = by_replicas
        .values()
        .flatten()
        .filter_map(|s| {
            let (running, kv) = (s.running?, s.kv_usage?);
            (kv >= MIN_KV_USAGE && running > 0.0)
                .then(|| running * (s.prompt + s.output / 2.0) / kv)
        })
        .collect();
    capacities.sort_by(f64::total_cmp);
    let kv_capacity = (!capacities.is_empty()).then(|| {
        let median = capacities[capacities.len() / 2];
        (median.round().max(1.0) as u64, capacities.len())
    });
    Ok(Observations {
        model,
        accelerator: Some(accelerator).filter(|a| !a.is_empty()),
        rows,
        kv_capacity,
    })
}

/// The steps of one level as one sweep row.
fn aggregate(steps: &[StepRow], replicas: u32, name: &str, file: usize) -> SweepRow {
    let requests: f64 = steps.iter().map(|s| s.requests).sum();
    let duration_s: f64 = steps.iter().map(|s| s.requests / s.rate_rps).sum();
    let weighted = |f: &dyn Fn(&StepRow) -> Option<(f64, f64)>| -> Option<f64> {
        let (mut sum, mut weight) = (0.0, 0.0);
        for s in steps {
            if let Some((v, w)) = f(s) {
                sum += v * w;
                weight += w;
            }
        }
        (weight > 0.0).then(|| sum / weight)
    };
    let prompt = weighted(&|s| Some((s.prompt, s.requests))).unwrap_or(1.0);
    let output = weighted(&|s| Some((s.output, s.requests))).unwrap_or(2.0);
    let ttft = weighted(&|s| s.ttft_ms.map(|t| (t, s.requests)));
    let itl = weighted(&|s| s.itl_ms.map(|t| (t, s.requests * (s.output - 1.0))));
    let lines: Vec<u64> = steps.iter().map(|s| s.line).collect();
    let (first, last) = (
        lines.iter().min().copied().unwrap_or(0),
        lines.iter().max().copied().unwrap_or(0),
    );
    SweepRow {
        origin: format!("{name}:{first}-{last} ({} steps)", steps.len()),
        file,
        drive: Drive::FleetRateRps(requests / duration_s),
        prompt_tokens: prompt,
        output_tokens: output,
        ttft_ms: ttft.map(|t| (TtftStat::Mean, t)),
        token_ms: itl.map(|t| (TokenStat::Itl, t)),
        throughput_rps: Some(requests / duration_s),
        replicas,
        max_num_seqs: None,
        max_num_batched_tokens: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    const HEADER: &str = "model,variant,accelerator,namespace,end_s,replicas,requests,rate_rps,prompt_tokens,output_tokens,ttft_ms,itl_ms,running,waiting,kv_usage\n";

    #[test]
    fn steps_become_levels() {
        let mut text = String::from("# wva observe\n");
        text.push_str(HEADER);
        for k in 0..30 {
            // Two levels: 1 req/s then 4 req/s, 60 s steps, two replicas.
            let rate = if k < 15 { 1.0 } else { 4.0 };
            let itl = if k < 15 { 10.0 } else { 14.0 };
            text.push_str(&format!(
                "m,v,H100,ns,{},2,{},{rate},1000,200,50,{itl},3,0,0.1\n",
                60 * (k + 1),
                rate * 60.0
            ));
        }
        let f = file(&text);
        let rows = read(f.path(), &Filters::default(), 0).unwrap();
        assert_eq!(rows.len(), MAX_LEVELS);
        assert!(rows.iter().all(|r| r.replicas == 2));
        assert_eq!(rows[0].drive, Drive::FleetRateRps(1.0));
        assert_eq!(rows.last().unwrap().drive, Drive::FleetRateRps(4.0));
        assert_eq!(rows.last().unwrap().token_ms, Some((TokenStat::Itl, 14.0)));
        // 3 running x (1000 + 100) tokens at 10% of the cache: 33,000 tokens; from the 30
        // steps less the first and the two either side of the jump from 60 to 240 requests.
        let o = observations(f.path(), &Filters::default(), 0).unwrap();
        assert_eq!(o.kv_capacity, Some((33_000, 27)));
        assert_eq!(o.model, "m");
        assert_eq!(o.accelerator.as_deref(), Some("H100"));
    }

    #[test]
    fn several_models_need_a_choice() {
        let text = format!(
            "{HEADER}a,v,H100,,60,1,60,1,100,10,5,5,1,0,\nb,v,H100,,60,1,60,1,100,10,5,5,1,0,\n"
        );
        let f = file(&text);
        let e = read(f.path(), &Filters::default(), 0).unwrap_err();
        assert!(
            e.to_string()
                .contains("choose one with `model` and `hardware`"),
            "{e}"
        );
        let only_a = Filters {
            model: Some("a".into()),
            ..Filters::default()
        };
        // One step of `a`: its first, left out.
        let e = read(f.path(), &only_a, 0).unwrap_err();
        assert!(e.to_string().contains("no step with at least"), "{e}");
    }

    #[test]
    fn bad_cells_are_named() {
        let text = format!("{HEADER}a,v,H100,,60,x,60,1,100,10,5,5,1,0,\n");
        let f = file(&text);
        let e = read(f.path(), &Filters::default(), 0).unwrap_err();
        assert!(e.to_string().contains(":2: replicas"), "{e}");
    }
}
