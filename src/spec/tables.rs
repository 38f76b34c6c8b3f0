//! Readers for the files a `tables` profile is built from: LLMServingSim's profiler folder
//! (`attention.csv`, `dense.csv`, `per_sequence.csv`, `moe.csv`, `skew_fit.csv`, `meta.yaml`),
//! a model's Hugging Face `config.json`, and LLMServingSim's cluster config (parallelism,
//! GPU memory and interconnect of a deployment).
//!
//! Every error names the file and, for a bad value, its line and column (or JSON field).

use super::SpecError;
use crate::perf::tables::skew::{SkewAxes, SkewBucket, SkewFit};
use crate::perf::{Architecture, Interconnect, MoeShape, TableData};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// ASTRA-Sim (LLMServingSim's network model) reads `link_bw` in GiB/s; `wva` works in GB/s.
const GIB_PER_GB: f64 = 1.073_741_824;

fn read(path: &Path) -> Result<String, SpecError> {
    crate::limits::read_document_text(path).map_err(|e| SpecError::file(path, e.to_string()))
}

/// Named curves: a layer's name and its `(size, time)` points.
type Curves = Vec<(String, Vec<(f64, f64)>)>;

/// A CSV file's rows as numbers, by column name.
struct Table {
    path: PathBuf,
    header: Vec<String>,
    rows: Vec<(u64, csv::StringRecord)>,
}

impl Table {
    fn open(path: &Path) -> Result<Table, SpecError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(path)
            .map_err(|e| SpecError::file(path, e.to_string()))?;
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| SpecError::file(path, e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let mut err = SpecError::file(path, e.to_string());
                err.line = e.position().map(|p| p.line() as usize);
                err
            })?;
            let line = record.position().map_or(0, |p| p.line());
            rows.push((line, record));
        }
        Ok(Table {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    fn column(&self, name: &str) -> Result<usize, SpecError> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            SpecError::file(
                &self.path,
                format!(
                    "no `{name}` column (the header is {})",
                    self.header.join(",")
                ),
            )
        })
    }

    /// A finite, non-negative number in `column` of the row at `line`.
    fn number(&self, line: u64, row: &csv::StringRecord, column: usize) -> Result<f64, SpecError> {
        let text = row.get(column).unwrap_or("");
        let value: f64 = text.parse().map_err(|_| {
            let shown: String = text.chars().take(40).collect();
            self.error(line, column, format!("not a number: `{shown}`"))
        })?;
        if !value.is_finite() || value < 0.0 {
            return Err(self.error(
                line,
                column,
                format!("must be a finite number >= 0, got {value}"),
            ));
        }
        Ok(value)
    }

    fn error(&self, line: u64, column: usize, message: String) -> SpecError {
        let mut e = SpecError::at(&self.path, self.header[column].clone(), message);
        e.line = Some(line as usize);
        e
    }

    /// `(name, [(size, time)])` curves of a `layer,<size>,time_us` file.
    fn curves(&self, size: &str) -> Result<Curves, SpecError> {
        let (layer, size, time) = (
            self.column("layer")?,
            self.column(size)?,
            self.column("time_us")?,
        );
        let mut out: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for (line, row) in &self.rows {
            let name = row.get(layer).unwrap_or("").to_string();
            let point = (
                self.number(*line, row, size)?,
                self.number(*line, row, time)?,
            );
            out.entry(name).or_default().push(point);
        }
        Ok(out.into_iter().collect())
    }

    /// The rows of `columns`, as numbers.
    fn numbers<const N: usize>(&self, columns: [&str; N]) -> Result<Vec<[f64; N]>, SpecError> {
        let idx: Vec<usize> = columns
            .iter()
            .map(|c| self.column(c))
            .collect::<Result<_, _>>()?;
        self.rows
            .iter()
            .map(|(line, row)| {
                let mut out = [0.0; N];
                for (slot, &i) in out.iter_mut().zip(&idx) {
                    *slot = self.number(*line, row, i)?;
                }
                Ok(out)
            })
            .collect()
    }
}

/// The folder of one TP degree's tables: `path` itself when it holds `attention.csv`, else its
/// `tp<tp>` subfolder. The error lists the subfolders there are.
pub fn tables_folder(path: &Path, tp: u32) -> Result<PathBuf, SpecError> {
    if path.join("attention.csv").is_file() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(m) = name.strip_prefix("tp").and_then(|m| m.parse::<u32>().ok())
            && m != tp
        {
            return Err(SpecError::file(
                path,
                format!("these are the TP {m} tables, not TP {tp}"),
            ));
        }
        return Ok(path.to_path_buf());
    }
    let sub = path.join(format!("tp{tp}"));
    if sub.join("attention.csv").is_file() {
        return Ok(sub);
    }
    let entries = std::fs::read_dir(path).map_err(|e| SpecError::file(path, e.to_string()))?;
    let mut subs: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tp") && path.join(n).join("attention.csv").is_file())
        .collect();
    subs.sort();
    Err(SpecError::file(
        path,
        if subs.is_empty() {
            "not an LLMServingSim profiler folder (no attention.csv, dense.csv, per_sequence.csv)"
                .to_string()
        } else {
            format!("no TP {tp} tables here (there are {})", subs.join(", "))
        },
    ))
}

/// The skew fit of TP degree `tp` from the profile's `meta.yaml` and `skew_fit.csv`; `None`
/// when the profiler did not fit it (or there is no `meta.yaml`).
fn skew_fit(dir: &Path, tp: u32) -> Result<Option<SkewFit>, SpecError> {
    let Some(meta_path) = [dir.join("meta.yaml"), dir.join("../meta.yaml")]
        .into_iter()
        .find(|p| p.is_file())
    else {
        return Ok(None);
    };
    let csv_path = dir.join("skew_fit.csv");
    if !csv_path.is_file() {
        return Ok(None);
    }
    let meta: serde_yaml::Value = serde_yaml::from_str(&read(&meta_path)?)
        .map_err(|e| SpecError::file(&meta_path, e.to_string()))?;
    let fit = &meta["skew_fit"];
    if fit["enabled"].as_bool() != Some(true) {
        return Ok(None);
    }
    let per_tp = &fit["per_tp"][tp as usize];
    let Some(alpha_default) = per_tp["alpha_default"].as_f64() else {
        return Err(SpecError::at(
            &meta_path,
            format!("skew_fit.per_tp.{tp}.alpha_default"),
            "missing: the skew fit is enabled but its pooled coefficient is not given",
        ));
    };
    // LLMServingSim reads a TP degree's own axes first.
    let axes_doc = if per_tp["bucket_axes"].is_mapping() {
        &per_tp["bucket_axes"]
    } else {
        &fit["bucket_axes"]
    };
    let defaults = SkewAxes::default();
    let default_labels: [Vec<&str>; 4] = [
        vec![
            "n<=2", "n<=4", "n<=8", "n<=16", "n<=32", "n<=64", "n<=128", "n<=256", "n>256",
        ],
        vec!["sr<=5%", "sr<=15%", "sr<=40%", "sr<=70%", "sr>70%"],
        vec!["kvB<=1k", "kvB<=4k", "kvB<=16k", "kvB>16k"],
        vec![
            "kp=0", "kp<=512", "kp<=1k", "kp<=2k", "kp<=4k", "kp<=8k", "kp>8k",
        ],
    ];
    let names = ["n", "skew_rate", "kv_big", "kp"];
    let default_bins = [
        &defaults.n,
        &defaults.skew_rate,
        &defaults.kv_big,
        &defaults.kp,
    ];
    let mut bins: Vec<Vec<f64>> = Vec::new();
    let mut labels: Vec<Vec<String>> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let b: Vec<f64> = axes_doc[format!("{name}_bins")]
            .as_sequence()
            .map(|s| s.iter().filter_map(serde_yaml::Value::as_f64).collect())
            .unwrap_or_else(|| default_bins[i].clone());
        let l: Vec<String> = axes_doc[format!("{name}_labels")]
            .as_sequence()
            .map(|s| {
                s.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_else(|| default_labels[i].iter().map(|s| s.to_string()).collect());
        if b.len() != l.len() + 1 {
            return Err(SpecError::at(
                &meta_path,
                format!("skew_fit.bucket_axes.{name}_bins"),
                format!(
                    "{} edges for {} labels (needs one more edge than labels)",
                    b.len(),
                    l.len()
                ),
            ));
        }
        bins.push(b);
        labels.push(l);
    }
    let table = Table::open(&csv_path)?;
    let cols: Vec<usize> = [
        "pc",
        "n_label",
        "skew_rate_label",
        "kv_big_label",
        "kp_label",
        "alpha",
    ]
    .iter()
    .map(|c| table.column(c))
    .collect::<Result<_, _>>()?;
    let mut buckets = Vec::new();
    for (line, row) in &table.rows {
        let pc = table.number(*line, row, cols[0])?;
        let mut index = [0usize; 4];
        for a in 0..4 {
            let text = row.get(cols[a + 1]).unwrap_or("");
            index[a] = labels[a].iter().position(|l| l == text).ok_or_else(|| {
                table.error(
                    *line,
                    cols[a + 1],
                    format!(
                        "unknown label `{text}` (meta.yaml lists {})",
                        labels[a].join(", ")
                    ),
                )
            })?;
        }
        let text = row.get(cols[5]).unwrap_or("");
        let alpha: f64 = text
            .parse()
            .ok()
            .filter(|a: &f64| a.is_finite())
            .ok_or_else(|| table.error(*line, cols[5], format!("not a number: `{text}`")))?;
        buckets.push(SkewBucket {
            pc,
            n: index[0],
            skew_rate: index[1],
            kv_big: index[2],
            kp: index[3],
            alpha,
        });
    }
    let mut it = bins.into_iter();
    let mut next = || it.next().unwrap_or_default();
    Ok(Some(SkewFit {
        axes: SkewAxes {
            n: next(),
            skew_rate: next(),
            kv_big: next(),
            kp: next(),
        },
        alpha_default,
        buckets,
    }))
}

/// The token budget the profiler ran vLLM with (`meta.yaml`'s
/// `engine_effective.max_num_batched_tokens`, beside the tables or one folder up), when it says.
pub fn profiled_budget(path: &Path) -> Option<u32> {
    let meta = [path.join("meta.yaml"), path.join("../meta.yaml")]
        .into_iter()
        .find(|p| p.is_file())?;
    let value: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(meta).ok()?).ok()?;
    value["engine_effective"]["max_num_batched_tokens"]
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|&v| v > 0)
}

/// Reads the profiler tables of TP degree `tp` under `path` (the `tp<N>` folder or the one
/// above it). A MoE model's `moe.csv` is taken from the `tp1` folder beside it when this one
/// has none (the profiler times the experts on one GPU).
pub fn read_profiler_tables(path: &Path, tp: u32) -> Result<TableData, SpecError> {
    let dir = tables_folder(path, tp)?;
    let need = |name: &str| -> Result<Table, SpecError> {
        let p = dir.join(name);
        if !p.is_file() {
            return Err(SpecError::file(
                &p,
                "missing (the profiler writes it beside attention.csv)",
            ));
        }
        Table::open(&p)
    };
    let dense = need("dense.csv")?.curves("tokens")?;
    let per_sequence = need("per_sequence.csv")?.curves("sequences")?;
    let attention = need("attention.csv")?.numbers([
        "prefill_chunk",
        "kv_prefill",
        "n_decode",
        "kv_decode",
        "time_us",
    ])?;
    // The experts are profiled on one GPU: a `tp<N>` folder without moe.csv takes `tp1`'s.
    let in_tp_folder = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("tp"))
        .is_some_and(|n| n.parse::<u32>().is_ok());
    let moe_path = [dir.join("moe.csv"), dir.join("../tp1/moe.csv")]
        .into_iter()
        .take(if in_tp_folder { 2 } else { 1 })
        .find(|p| p.is_file());
    let moe = match moe_path {
        Some(p) => Table::open(&p)?.numbers(["tokens", "activated_experts", "time_us"])?,
        None => Vec::new(),
    };
    Ok(TableData {
        source: dir.display().to_string(),
        dense,
        per_sequence,
        attention,
        moe,
        skew: skew_fit(&dir, tp)?,
    })
}

fn json(path: &Path) -> Result<Value, SpecError> {
    let text = read(path)?;
    serde_json::from_str(&text).map_err(|e| {
        let mut err = SpecError::file(path, format!("not valid JSON: {e}"));
        err.line = Some(e.line());
        err.column = Some(e.column());
        err
    })
}

fn count(v: &Value, path: &Path, field: &str) -> Result<u32, SpecError> {
    v[field]
        .as_u64()
        .filter(|&n| n >= 1 && n <= u64::from(u32::MAX))
        .map(|n| n as u32)
        .ok_or_else(|| SpecError::at(path, field, "missing or not a whole number >= 1"))
}

/// A model's shape from its Hugging Face `config.json`.
pub fn read_model_config(path: &Path) -> Result<Architecture, SpecError> {
    let v = json(path)?;
    let layers = count(&v, path, "num_hidden_layers")?;
    let hidden_size = count(&v, path, "hidden_size")?;
    let attention_heads = count(&v, path, "num_attention_heads")?;
    let kv_heads = match v.get("num_key_value_heads") {
        Some(_) => count(&v, path, "num_key_value_heads")?,
        None => attention_heads,
    };
    let head_dim = match v.get("head_dim").filter(|h| !h.is_null()) {
        Some(_) => count(&v, path, "head_dim")?,
        None => hidden_size / attention_heads,
    };
    let dtype_bytes = match v["torch_dtype"].as_str().or(v["dtype"].as_str()) {
        Some("float32") => 4,
        Some("float8_e4m3fn") | Some("int8") => 1,
        _ => 2,
    };
    let experts = ["num_experts", "num_local_experts", "n_routed_experts"]
        .iter()
        .find_map(|k| v[*k].as_u64().filter(|&n| n > 0));
    let moe = match experts {
        Some(experts) => {
            let per_token = count(&v, path, "num_experts_per_tok")?;
            let expert_intermediate_size = match v.get("moe_intermediate_size") {
                Some(_) => count(&v, path, "moe_intermediate_size")?,
                None => count(&v, path, "intermediate_size")?,
            };
            // Hugging Face's rule: layer l is sparse unless listed in `mlp_only_layers`, and
            // when `(l + 1)` is a multiple of `decoder_sparse_step`.
            let step = u64::from(
                u32::try_from(v["decoder_sparse_step"].as_u64().unwrap_or(1).max(1))
                    .unwrap_or(u32::MAX),
            );
            let dense_only: std::collections::BTreeSet<u64> = v["mlp_only_layers"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            let layers64 = u64::from(layers);
            let sparse = layers64 / step
                - dense_only
                    .iter()
                    .filter(|&&l| l < layers64 && (l + 1) % step == 0)
                    .count() as u64;
            Some(MoeShape {
                experts: experts.min(u64::from(u32::MAX)) as u32,
                experts_per_token: per_token,
                expert_intermediate_size,
                moe_layers: sparse as u32,
            })
        }
        None => None,
    };
    let intermediate_size = match v.get("intermediate_size") {
        Some(_) => count(&v, path, "intermediate_size")?,
        None if moe.is_some() => 0,
        None => return Err(SpecError::at(path, "intermediate_size", "missing")),
    };
    let arch = Architecture {
        model_type: v["model_type"].as_str().unwrap_or("unknown").to_string(),
        layers,
        hidden_size,
        attention_heads,
        kv_heads,
        head_dim,
        intermediate_size,
        vocab_size: count(&v, path, "vocab_size")?,
        tied_embeddings: v["tie_word_embeddings"].as_bool().unwrap_or(false),
        dtype_bytes,
        moe,
    };
    arch.check()
        .map_err(|(field, message)| SpecError::at(path, field, message))?;
    Ok(arch)
}

/// One deployment as LLMServingSim's cluster config describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterDeployment {
    /// The model (`model_name`).
    pub model: String,
    /// The GPU (`hardware`, the profiler folder's name).
    pub hardware: String,
    /// Tensor-parallel degree (`tp_size`).
    pub tp: u32,
    /// Expert-parallel degree (`ep_size`; for MoE, by default the TP degree).
    pub ep: u32,
    /// Ranks of one data-parallel group (instances sharing a `dp_group`).
    pub dp: u32,
    /// Replicas: instances over the data-parallel group size.
    pub replicas: u32,
    /// GPU memory, GiB (`npu_mem.mem_size`, which LLMServingSim reads as GiB).
    pub gpu_memory_gib: f64,
    /// `npu_mem.mem_util` (default 0.9).
    pub gpu_memory_utilization: f64,
    /// The link between GPUs (`link_bw` GiB/s, `link_latency` ns).
    pub interconnect: Interconnect,
    /// Per-instance `max_num_seqs`, when set.
    pub max_num_seqs: Option<u32>,
    /// Per-instance `max_num_batched_tokens`, when set.
    pub max_num_batched_tokens: Option<u32>,
}

fn scalar_link(v: &Value, path: &Path, field: &str) -> Result<f64, SpecError> {
    let bad = || {
        SpecError::at(
            path,
            field,
            "missing or not a number >= 0 (or a list of equal ones)",
        )
    };
    let value = match &v[field] {
        Value::Number(n) => n.as_f64().ok_or_else(bad)?,
        Value::Array(a) => {
            let values: Vec<f64> = a.iter().filter_map(Value::as_f64).collect();
            if values.is_empty() || values.len() != a.len() {
                return Err(bad());
            }
            if values
                .iter()
                .any(|x| (x - values[0]).abs() > 1e-9 * values[0].abs())
            {
                return Err(SpecError::at(
                    path,
                    field,
                    "links that differ by dimension are not modelled; give one value",
                ));
            }
            values[0]
        }
        _ => return Err(bad()),
    };
    if !(value.is_finite() && value >= 0.0) {
        return Err(bad());
    }
    Ok(value)
}

/// Reads LLMServingSim's cluster config: one kind of instance (every instance must agree on
/// model, GPU and parallelism), its data-parallel groups and the interconnect.
pub fn read_cluster_config(
    path: &Path,
    is_moe: Option<bool>,
) -> Result<ClusterDeployment, SpecError> {
    let v = json(path)?;
    let bandwidth = scalar_link(&v, path, "link_bw")?;
    let latency_ns = scalar_link(&v, path, "link_latency")?;
    if bandwidth <= 0.0 {
        return Err(SpecError::at(path, "link_bw", "must be > 0"));
    }
    let nodes = v["nodes"]
        .as_array()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| SpecError::at(path, "nodes", "missing or empty"))?;
    let mut instances = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let list = node["instances"]
            .as_array()
            .ok_or_else(|| SpecError::at(path, format!("nodes[{i}].instances"), "missing"))?;
        for (j, inst) in list.iter().enumerate() {
            instances.push((format!("nodes[{i}].instances[{j}]"), inst));
        }
    }
    if instances.is_empty() {
        return Err(SpecError::at(path, "nodes", "no instances"));
    }
    let mut first: Option<ClusterDeployment> = None;
    let mut groups: BTreeMap<String, u32> = BTreeMap::new();
    let mut ungrouped = 0u32;
    for (field, inst) in &instances {
        let f = |name: &str| format!("{field}.{name}");
        let text = |name: &str| -> Result<String, SpecError> {
            inst[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| SpecError::at(path, f(name), "missing"))
        };
        let opt_count = |name: &str| -> Result<Option<u32>, SpecError> {
            match inst.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(x) => x
                    .as_u64()
                    .filter(|&n| n >= 1 && n <= u64::from(u32::MAX))
                    .map(|n| Some(n as u32))
                    .ok_or_else(|| SpecError::at(path, f(name), "not a whole number >= 1")),
            }
        };
        let num_npus = opt_count("num_npus")?;
        let pp = opt_count("pp_size")?.unwrap_or(1);
        if pp != 1 {
            return Err(SpecError::at(
                path,
                f("pp_size"),
                "pipeline parallelism is not modelled",
            ));
        }
        let tp = match (opt_count("tp_size")?, num_npus) {
            (Some(t), _) => t,
            (None, Some(n)) => n,
            (None, None) => {
                return Err(SpecError::at(
                    path,
                    f("tp_size"),
                    "missing (give tp_size or num_npus)",
                ));
            }
        };
        let ep = opt_count("ep_size")?.unwrap_or(if is_moe == Some(true) { tp } else { 1 });
        let mem = &inst["npu_mem"];
        let gpu_memory_gib = mem["mem_size"]
            .as_f64()
            .filter(|m| m.is_finite() && *m > 0.0)
            .ok_or_else(|| {
                SpecError::at(path, f("npu_mem.mem_size"), "missing or not a number > 0")
            })?;
        let gpu_memory_utilization = match mem.get("mem_util") {
            None | Some(Value::Null) => 0.9,
            Some(u) => u
                .as_f64()
                .filter(|u| *u > 0.0 && *u <= 1.0)
                .ok_or_else(|| {
                    SpecError::at(path, f("npu_mem.mem_util"), "must be a fraction in (0, 1]")
                })?,
        };
        match inst["dp_group"].as_str() {
            Some(g) => *groups.entry(g.to_string()).or_insert(0) += 1,
            None => ungrouped += 1,
        }
        let this = ClusterDeployment {
            model: text("model_name")?,
            hardware: text("hardware")?,
            tp,
            ep,
            dp: 1,
            replicas: 1,
            gpu_memory_gib,
            gpu_memory_utilization,
            interconnect: Interconnect {
                bandwidth_gb_s: bandwidth * GIB_PER_GB,
                latency_us: latency_ns / 1000.0,
            },
            max_num_seqs: opt_count("max_num_seqs")?,
            max_num_batched_tokens: opt_count("max_num_batched_tokens")?,
        };
        match &first {
            None => first = Some(this),
            Some(f0) if *f0 != this => {
                return Err(SpecError::at(
                    path,
                    field.clone(),
                    "differs from the first instance (model, hardware, parallelism, memory or limits): a profile describes one kind of instance",
                ));
            }
            Some(_) => {}
        }
    }
    let mut deployment = first.ok_or_else(|| SpecError::at(path, "nodes", "no instances"))?;
    let sizes: Vec<u32> = groups.values().copied().collect();
    if ungrouped > 0 && !sizes.is_empty() {
        return Err(SpecError::at(
            path,
            "nodes",
            "some instances have a dp_group and some do not: a profile describes one kind of replica",
        ));
    }
    if let Some(&size) = sizes.first() {
        if sizes.iter().any(|&s| s != size) {
            return Err(SpecError::at(
                path,
                "nodes",
                "data-parallel groups of different sizes",
            ));
        }
        deployment.dp = size;
        deployment.replicas = sizes.len() as u32;
    } else {
        deployment.replicas = ungrouped;
    }
    Ok(deployment)
}

/// The model config of `model` (`org/name`) in LLMServingSim's layout, looked for above the
/// profiler folder `tables` (`.../profiler/perf/<hw>/<org>/<name>/...` beside
/// `.../configs/model/<org>/<name>.json`).
pub fn find_model_config(tables: &Path, model: &str) -> Option<PathBuf> {
    let mut dir = tables.canonicalize().ok()?;
    loop {
        let candidate = dir.join("configs/model").join(format!("{model}.json"));
        if candidate.is_file() {
            return Some(candidate);
        }
        if !dir.pop() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_hugging_face_config_gives_the_shape() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "m.json",
            r#"{"model_type": "qwen3_moe", "num_hidden_layers": 48, "hidden_size": 2048,
                "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
                "intermediate_size": 6144, "vocab_size": 151936, "num_experts": 128,
                "num_experts_per_tok": 8, "moe_intermediate_size": 768,
                "decoder_sparse_step": 1, "mlp_only_layers": [], "torch_dtype": "bfloat16"}"#,
        );
        let a = read_model_config(&p).unwrap();
        assert_eq!(a.layers, 48);
        assert_eq!(a.moe.unwrap().moe_layers, 48);
        assert_eq!(a.kv_bytes_per_token(1), 2 * 48 * 4 * 128 * 2);
        let bad = write(dir.path(), "bad.json", "{\"num_hidden_layers\": 0}");
        let e = read_model_config(&bad).unwrap_err().to_string();
        assert!(e.contains("num_hidden_layers"), "{e}");
        let syntax = write(dir.path(), "syntax.json", "{\n  \"a\": ,\n}");
        let e = read_model_config(&syntax).unwrap_err();
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn a_cluster_config_gives_parallelism_groups_and_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let instance = |group: &str| {
            format!(
                r#"{{"model_name": "Qwen/Qwen3-30B-A3B-Instruct-2507", "hardware": "RTXPRO6000",
                    "npu_mem": {{"mem_size": 96, "mem_bw": 1597, "mem_util": 0.9}},
                    "num_npus": 1, "tp_size": 1, "ep_size": 2, "dp_group": "{group}",
                    "pd_type": null}}"#
            )
        };
        let p = write(
            dir.path(),
            "c.json",
            &format!(
                r#"{{"num_nodes": 1, "link_bw": 16, "link_latency": 20000, "nodes": [
                    {{"num_instances": 2, "instances": [{}, {}]}}]}}"#,
                instance("A"),
                instance("A")
            ),
        );
        let d = read_cluster_config(&p, Some(true)).unwrap();
        assert_eq!((d.tp, d.ep, d.dp, d.replicas), (1, 2, 2, 1));
        assert!((d.interconnect.bandwidth_gb_s - 17.179869184).abs() < 1e-9);
        assert_eq!(d.interconnect.latency_us, 20.0);
        let mixed = write(
            dir.path(),
            "m.json",
            &format!(
                r#"{{"link_bw": 16, "link_latency": 0, "nodes": [
                    {{"instances": [{}, {}]}}]}}"#,
                instance("A"),
                instance("A").replace("\"tp_size\": 1", "\"tp_size\": 2")
            ),
        );
        let e = read_cluster_config(&mixed, Some(true))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nodes[0].instances[1]"), "{e}");
    }
}
