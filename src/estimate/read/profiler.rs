//! LLMServingSim profiler tables: per-layer times (µs) of one decoder layer measured by token
//! count (`dense.csv`: layernorm, qkv_proj, rotary_emb, o_proj, gate_up_proj, act_fn,
//! down_proj, and the model-level embedding and final_layernorm), by sampled sequences
//! (`per_sequence.csv`: lm_head, sampler), and attention by iteration shape
//! (`attention.csv`: prefill chunk, its KV prefix, decoding sequences and their KV length).
//!
//! An iteration of the whole model costs: embedding + layers x (2 layernorms + qkv_proj +
//! rotary_emb + attention + o_proj + gate_up_proj + act_fn + down_proj) + final_layernorm +
//! lm_head + sampler. The observations are that cost on the attention table's own grid of
//! shapes (pure decode, pure prefill and mixed iterations), so attention is never
//! interpolated; dense layers are interpolated linearly in the token count.

use super::super::{Kind, Observation, Work};
use super::{Csv, Filters, cell};
use crate::error::{Field, request_error};
use crate::estimate::EstimateError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Time (µs) of a layer by size, interpolated linearly (and extrapolated from the last two
/// points).
struct Curve(Vec<(f64, f64)>);

impl Curve {
    fn at(&self, x: f64) -> f64 {
        let p = &self.0;
        if p.len() == 1 {
            return p[0].1;
        }
        let i = p.partition_point(|(px, _)| *px < x).clamp(1, p.len() - 1);
        let ((x0, y0), (x1, y1)) = (p[i - 1], p[i]);
        (y0 + (y1 - y0) * (x - x0) / (x1 - x0)).max(0.0)
    }
}

fn curves(path: &Path, size_column: &str) -> Result<BTreeMap<String, Curve>, EstimateError> {
    let mut csv = Csv::open(path)?;
    let (layer, size, time) = (
        csv.column("layer")?,
        csv.column(size_column)?,
        csv.column("time_us")?,
    );
    let header = csv.header.clone();
    let p = csv.path.clone();
    let mut points: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for row in csv.rows() {
        let (line, r) = row?;
        let name = r.get(layer).unwrap_or("").to_string();
        let x = cell(&p, line, &header, &r, size)?;
        let y = cell(&p, line, &header, &r, time)?;
        if y < 0.0 {
            return Err(format!("{p}:{line}: time_us: must be >= 0, got {y}").into());
        }
        points.entry(name).or_default().push((x, y));
    }
    Ok(points
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v.dedup_by(|a, b| a.0 == b.0);
            (k, Curve(v))
        })
        .collect())
}

/// The folder holding the tables: `path` itself, its parent when a table was named, or
/// `path/tp<N>` for `--tp N`. A folder named `tp<M>` with `--tp N`, N != M, is an error, as is
/// a folder without the tables (the error lists the `tp*` subfolders there are).
fn folder(path: &Path, tp: Option<u32>) -> Result<PathBuf, EstimateError> {
    // A path that cannot be looked at says why, as the OS did.
    std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let dir = match tp {
        Some(t) if dir.join(format!("tp{t}")).is_dir() => dir.join(format!("tp{t}")),
        _ => dir,
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let (Some(t), Some(m)) = (
        tp,
        name.strip_prefix("tp").and_then(|m| m.parse::<u32>().ok()),
    ) && t != m
    {
        return Err(request_error!(
            format!(
                "{}: these are the TP {m} tables, not TP {t} (",
                dir.display()
            ),
            Field("tp"),
            ")"
        )
        .into());
    }
    if !dir.join("attention.csv").is_file() {
        // An unreadable folder says so (not "no tables here").
        let mut subs: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("tp") && dir.join(n).join("attention.csv").is_file())
            .collect();
        subs.sort();
        return Err(if subs.is_empty() {
            EstimateError::from(format!(
                "{}: a folder without LLMServingSim profiler tables (attention.csv, dense.csv, per_sequence.csv); to fit other files, list them",
                dir.display()
            ))
        } else {
            EstimateError::from(request_error!(
                format!("{}: choose the tensor-parallel degree with ", dir.display()),
                Field("tp"),
                format!(" (there are {})", subs.join(", "))
            ))
        });
    }
    Ok(dir)
}

/// Reads one profiled model/GPU/TP degree.
pub fn read(path: &Path, f: &Filters) -> Result<Vec<Observation>, EstimateError> {
    let dir = folder(path, f.tp)?;
    let layers = f.num_layers.ok_or_else(|| {
        request_error!(
            format!(
                "{}: LLMServingSim profiles time one decoder layer; give the model's layer count with ",
                dir.display()
            ),
            Field("num_layers"),
            " (32 for Llama-3.1-8B)"
        )
    })?;
    let dense = curves(&dir.join("dense.csv"), "tokens")?;
    let per_seq = curves(&dir.join("per_sequence.csv"), "sequences")?;
    fn layer<'a>(
        dir: &Path,
        name: &str,
        curves: &'a BTreeMap<String, Curve>,
    ) -> Result<&'a Curve, EstimateError> {
        curves
            .get(name)
            .ok_or_else(|| EstimateError::from(format!("{}: no `{name}` rows", dir.display())))
    }
    let names = [
        "qkv_proj",
        "rotary_emb",
        "o_proj",
        "gate_up_proj",
        "act_fn",
        "down_proj",
    ];
    let per_layer: Vec<&Curve> = names
        .iter()
        .map(|n| layer(&dir, n, &dense))
        .collect::<Result<_, _>>()?;
    let norm = layer(&dir, "layernorm", &dense)?;
    let (embedding, final_norm) = (
        layer(&dir, "embedding", &dense)?,
        layer(&dir, "final_layernorm", &dense)?,
    );
    let (lm_head, sampler) = (
        layer(&dir, "lm_head", &per_seq)?,
        layer(&dir, "sampler", &per_seq)?,
    );
    let l = f64::from(layers);

    let mut csv = Csv::open(&dir.join("attention.csv"))?;
    let cols = [
        csv.column("prefill_chunk")?,
        csv.column("kv_prefill")?,
        csv.column("n_decode")?,
        csv.column("kv_decode")?,
        csv.column("time_us")?,
    ];
    let header = csv.header.clone();
    let p = csv.path.clone();
    let mut out = Vec::new();
    for row in csv.rows() {
        let (line, r) = row?;
        let v: Vec<f64> = cols
            .iter()
            .map(|&i| cell(&p, line, &header, &r, i))
            .collect::<Result<_, _>>()?;
        let (chunk, prefix, n, context, attention_us) = (v[0], v[1], v[2], v[3], v[4]);
        if chunk + n <= 0.0 {
            continue;
        }
        let tokens = chunk + n;
        let sequences = n + f64::from(u8::from(chunk > 0.0));
        let dense_us: f64 =
            per_layer.iter().map(|c| c.at(tokens)).sum::<f64>() + 2.0 * norm.at(tokens);
        let total_us = embedding.at(tokens)
            + l * (dense_us + attention_us)
            + final_norm.at(tokens)
            + lm_head.at(sequences)
            + sampler.at(sequences);
        let work = Work {
            iterations: 1.0,
            prefill_iterations: f64::from(u8::from(chunk > 0.0)),
            tokens,
            prefill_tokens: chunk,
            kv_tokens: if chunk > 0.0 { prefix + chunk } else { 0.0 } + n * context,
            running: sequences,
        };
        out.push(Observation {
            work,
            time_ms: total_us / 1000.0,
            kind: match (chunk > 0.0, n > 0.0) {
                (true, true) => Kind::Mixed,
                (true, false) => Kind::Prefill,
                _ => Kind::Decode,
            },
            batch: sequences,
            origin: format!("{p}:{line}"),
            file: 0,
            per_unit: 1.0,
        });
    }
    Ok(out)
}
