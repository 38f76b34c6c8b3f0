//! The all-reduce model against measured all-reduce times: Vidur's NCCL timings (A100 and H100
//! DGX, eager, kernel time) and aiconfigurator's vLLM 0.14 all-reduce (A100, H100, H200 SXM,
//! under CUDA graphs: vLLM's custom all-reduce below 8 MB, NCCL above) and nccl-tests (H100),
//! from 1 KB to 64 MB. The model is the ring of [`crate::perf::comm`] with the interconnect
//! generation's default figures (NVLink 3 for A100, NVLink 4 for H100 and H200); beside it, the
//! best figures a ring could have for each set, which shows what the form itself can reach.

use super::md::{Table, pct};
use super::{Check, Options, Section, SectionId, ValidateError, existing};
use crate::perf::Interconnect;
use std::collections::BTreeMap;
use std::path::Path;

const KB: f64 = 1024.0;
const MB: f64 = 1024.0 * 1024.0;

/// One measured curve: time (µs) by message size (bytes).
struct Curve {
    source: &'static str,
    gpu: &'static str,
    generation: &'static str,
    ranks: u32,
    points: Vec<(f64, f64)>,
}

/// Reads `path` and returns, per rank count, `(bytes, µs)` points averaged per size, for the
/// rows `keep` accepts. `size` turns the size column into bytes, `time` the time into µs.
fn read_curves(
    path: &Path,
    ranks_column: &str,
    size_column: &str,
    time_column: &str,
    keep: impl Fn(&csv::StringRecord, &csv::StringRecord) -> bool,
    bytes_per_unit: f64,
) -> Result<BTreeMap<u32, Vec<(f64, f64)>>, ValidateError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| ValidateError::input(path, e))?;
    let header = reader
        .headers()
        .map_err(|e| ValidateError::input(path, e))?
        .clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| ValidateError::input(path, format!("no `{name}` column")))
    };
    let (rc, sc, tc) = (col(ranks_column)?, col(size_column)?, col(time_column)?);
    let mut sums: BTreeMap<(u32, u64), (f64, f64)> = BTreeMap::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| ValidateError::input(path, e))?;
        if !keep(&header, &row) {
            continue;
        }
        let num = |c: usize| -> Result<f64, ValidateError> {
            row.get(c)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| ValidateError::input(path, format!("row {}: not a number", i + 2)))
        };
        let bytes = num(sc)? * bytes_per_unit;
        let e = sums
            .entry((num(rc)? as u32, bytes as u64))
            .or_insert((0.0, 0.0));
        e.0 += num(tc)? * 1000.0;
        e.1 += 1.0;
    }
    let mut out: BTreeMap<u32, Vec<(f64, f64)>> = BTreeMap::new();
    for ((ranks, bytes), (sum, n)) in sums {
        let b = bytes as f64;
        if (KB..=64.0 * MB).contains(&b) {
            out.entry(ranks).or_default().push((b, sum / n));
        }
    }
    Ok(out)
}

fn curves(options: &Options) -> Result<Vec<Curve>, ValidateError> {
    let mut out = Vec::new();
    let vidur = existing(options.data_dir.join("vidur/network"))?;
    for (dir, gpu, generation) in [
        ("a100_dgx", "A100", "nvlink3"),
        ("h100_dgx", "H100", "nvlink4"),
    ] {
        let path = existing(vidur.join(dir).join("all_reduce.csv"))?;
        let intra = |h: &csv::StringRecord, r: &csv::StringRecord| {
            let get = |name: &str| h.iter().position(|x| x == name).and_then(|i| r.get(i));
            get("num_workers") == get("devices_per_node")
        };
        for (ranks, points) in read_curves(
            &path,
            "num_workers",
            "size",
            "time_stats.all_reduce.median",
            intra,
            1.0,
        )? {
            out.push(Curve {
                source: "Vidur (NCCL, eager)",
                gpu,
                generation,
                ranks,
                points,
            });
        }
    }
    let aic = existing(options.data_dir.join("aiconfigurator"))?;
    for (file, gpu, generation) in [
        (
            "a100_sxm_vllm0.14.0_custom_allreduce_perf.csv",
            "A100",
            "nvlink3",
        ),
        (
            "h100_sxm_vllm0.14.0_custom_allreduce_perf.csv",
            "H100",
            "nvlink4",
        ),
        (
            "h200_sxm_vllm0.14.0_custom_allreduce_perf.csv",
            "H200",
            "nvlink4",
        ),
    ] {
        let path = existing(aic.join(file))?;
        let graph = |h: &csv::StringRecord, r: &csv::StringRecord| {
            h.iter()
                .position(|x| x == "kernel_source")
                .and_then(|i| r.get(i))
                == Some("vLLM_custom_graph")
        };
        for (ranks, points) in
            read_curves(&path, "num_gpus", "message_size", "latency", graph, 2.0)?
        {
            out.push(Curve {
                source: "aiconfigurator (vLLM 0.14, CUDA graphs)",
                gpu,
                generation,
                ranks,
                points,
            });
        }
    }
    let path = existing(aic.join("h100_sxm_nccl_perf_from-dir-nccl-2.27.3.csv"))?;
    let all_reduce_half = |h: &csv::StringRecord, r: &csv::StringRecord| {
        let get = |name: &str| h.iter().position(|x| x == name).and_then(|i| r.get(i));
        get("op_name") == Some("all_reduce") && get("nccl_dtype") == Some("half")
    };
    for (ranks, points) in read_curves(
        &path,
        "num_gpus",
        "message_size",
        "latency",
        all_reduce_half,
        2.0,
    )? {
        out.push(Curve {
            source: "aiconfigurator (nccl-tests)",
            gpu: "H100",
            generation: "nvlink4",
            ranks,
            points,
        });
    }
    if out.is_empty() {
        return Err(ValidateError::Input(
            "no all-reduce measurements found".into(),
        ));
    }
    Ok(out)
}

/// Relative errors of `link`'s ring all-reduce on `c`.
fn errors(link: &Interconnect, c: &Curve) -> Vec<f64> {
    c.points
        .iter()
        .map(|&(b, t)| link.all_reduce_us(b, c.ranks) / t - 1.0)
        .collect()
}

fn worst(e: &[f64]) -> f64 {
    super::md::worst_finite(e)
}

/// The ring figures with the smallest worst error on `c`: a log grid, then a finer one around
/// the best point.
fn best_ring(c: &Curve) -> (Interconnect, f64) {
    let mut best = (
        Interconnect {
            bandwidth_gb_s: 100.0,
            latency_us: 1.0,
        },
        f64::INFINITY,
    );
    let (mut bw_lo, mut bw_hi, mut lat_lo, mut lat_hi) = (1.0f64, 2000.0f64, 0.01f64, 100.0f64);
    for _ in 0..4 {
        for i in 0..=40 {
            for j in 0..=40 {
                let link = Interconnect {
                    bandwidth_gb_s: bw_lo * (bw_hi / bw_lo).powf(f64::from(i) / 40.0),
                    latency_us: lat_lo * (lat_hi / lat_lo).powf(f64::from(j) / 40.0),
                };
                let w = worst(&errors(&link, c)).abs();
                if w < best.1 {
                    best = (link, w);
                }
            }
        }
        let (bw, lat) = (best.0.bandwidth_gb_s, best.0.latency_us);
        let (sb, sl) = ((bw_hi / bw_lo).powf(0.1), (lat_hi / lat_lo).powf(0.1));
        (bw_lo, bw_hi, lat_lo, lat_hi) = (bw / sb, bw * sb, lat / sl, lat * sl);
    }
    best
}

pub(super) fn section(options: &Options) -> Result<Section, ValidateError> {
    let curves = curves(options)?;
    let mut t = Table::new(
        &[
            "measurements",
            "GPUs",
            "sizes",
            "measured 1 KB / 64 MB, us",
            "model 1 KB / 64 MB, us",
            "median |error|",
            "within 20%",
            "worst",
            "best ring (GB/s, us): worst",
        ],
        "llrrrrrrr",
    );
    let mut all = Vec::new();
    let mut best_all = Vec::new();
    for c in &curves {
        let link = Interconnect::named(c.generation).ok_or_else(|| {
            ValidateError::Internal(format!("unknown generation {}", c.generation))
        })?;
        let e = errors(&link, c);
        let mut abs: Vec<f64> = e.iter().map(|x| x.abs()).collect();
        abs.sort_by(f64::total_cmp);
        let median = abs[abs.len() / 2];
        let within = e.iter().filter(|x| x.abs() <= 0.2).count();
        let (best, best_worst) = best_ring(c);
        let first = c.points.first().copied().unwrap_or_default();
        let last = c.points.last().copied().unwrap_or_default();
        t.row(vec![
            format!("{}, {}", c.source, c.gpu),
            c.ranks.to_string(),
            c.points.len().to_string(),
            format!("{:.1} / {:.0}", first.1, last.1),
            format!(
                "{:.1} / {:.0}",
                link.all_reduce_us(first.0, c.ranks),
                link.all_reduce_us(last.0, c.ranks)
            ),
            format!("{:.0}%", median * 100.0),
            format!("{:.0}%", 100.0 * within as f64 / e.len() as f64),
            pct(worst(&e)),
            format!(
                "{:.0}, {:.2}: {}",
                best.bandwidth_gb_s,
                best.latency_us,
                pct(best_worst)
            ),
        ]);
        all.extend(e);
        best_all.push(best_worst);
    }
    let mut gens = Table::new(
        &[
            "name",
            "what",
            "bandwidth GB/s",
            "latency us per step",
            "source",
        ],
        "llrrl",
    );
    for g in crate::perf::comm::GENERATIONS {
        gens.row(vec![
            format!("`{}`", g.name),
            g.description.into(),
            format!("{:.0}", g.link.bandwidth_gb_s),
            format!("{:.1}", g.link.latency_us),
            g.source.into(),
        ]);
    }
    let body = format!(
        "The tables cost model adds the collectives of tensor and expert parallelism; the \
interconnect is data: a catalog entry or profile names a generation, or gives \
`{{bandwidth_gb_s, latency_us}}`, and a ring all-reduce of `B` bytes over `n` GPUs takes \
`2(n-1) x (latency + B/n / bandwidth)` ([formats.md](formats.md#interconnect)). The \
generations and where their figures come from:\n\n{}\n\
Against every measured all-reduce curve in `../shared/data` from 1 KB to 64 MB (A100 is \
NVLink 3, H100 and H200 NVLink 4; Vidur's intra-node rows only), with the generation's figures, \
and with the best figures a ring could have on that curve:\n\n{}\n\
The ring is right in the bandwidth regime (a few MB and up) and wrong for small messages, by \
more at more GPUs: there vLLM does not run a ring at all. Below 8 MB, on GPUs joined by \
NVLink (or two GPUs with P2P), it runs its own one-shot all-reduce, every GPU reading the \
others' buffers at once, which takes about 5 us whatever the GPU count (aiconfigurator's \
rows); NCCL's latency protocols do the same for nccl-tests. A ring's `2(n-1)` latencies \
cannot follow a flat floor and a bandwidth slope together, so even its best figures miss \
somewhere on every curve (last column), and Vidur's eager timings are bimodal below 1 MB \
(7-60 us at the same size). For serving, the small messages are the decode steps' \
all-reduces: a TP 8 decode step on NVLink is charged 14 ring latencies per all-reduce where \
vLLM pays one. On the PCIe pair of the TP 2 run above, LLMServingSim's own figures for the \
link (the cluster config's 16 GiB/s and 20 us) are used as given.\n",
        gens.render(),
        t.render()
    );
    let checks = vec![
        Check::worst(
            "ring all-reduce with the catalog's NVLink figures vs measured, 1 KB-64 MB",
            &all,
            0.20,
        ),
        Check::worst(
            "ring all-reduce with each curve's best figures vs measured, 1 KB-64 MB",
            &best_all,
            0.20,
        ),
    ];
    Ok(Section {
        id: SectionId::Collectives,
        title: "The all-reduce model against measured NCCL and vLLM all-reduces".into(),
        body,
        checks,
        figures: Vec::new(),
    })
}
