//! Collective communication between the GPUs of one replica: the tensor-parallel all-reduce,
//! the expert-parallel all-gather and reduce-scatter, and the logits gather.
//!
//! Ring algorithms over links of a given bandwidth and per-step latency (the model NCCL's own
//! tuner and ASTRA-Sim's analytical backend use):
//! - all-reduce of `B` bytes over `n` ranks: `2(n-1)` steps, each moving `B/n` bytes;
//! - all-gather, each rank contributing `B` bytes: `n-1` steps of `B` bytes;
//! - reduce-scatter of `B` bytes: `n-1` steps of `B/n` bytes;
//! - one step: `latency + bytes / bandwidth`.
//!
//! The link's figures are data (`interconnect` in the accelerator catalog or a profile; see
//! `docs/formats.md` for the defaults and their sources); `docs/validation.md` checks the
//! all-reduce against measured NCCL and vLLM all-reduce times.

use serde::{Deserialize, Serialize};

/// The link between the GPUs of a replica.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interconnect {
    /// Bandwidth of one direction of a link, GB/s (10^9 bytes per second).
    pub bandwidth_gb_s: f64,
    /// Latency of one step of a collective, µs.
    pub latency_us: f64,
}

/// A named interconnect generation: its default figures and where they come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Generation {
    /// The name a catalog or profile gives (`nvlink4`).
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Its figures.
    pub link: Interconnect,
    /// Where the figures come from.
    pub source: &'static str,
}

/// The interconnect generations `wva` knows by name. Bandwidths are what NCCL's ring
/// all-reduce achieves per direction (bus bandwidth), not the links' peak; the latency is one
/// step of the ring.
pub const GENERATIONS: [Generation; 6] = [
    Generation {
        name: "nvlink3",
        description: "NVLink 3 (A100 SXM4, NVSwitch): 300 GB/s per direction",
        link: Interconnect {
            bandwidth_gb_s: 230.0,
            latency_us: 1.0,
        },
        source: "NCCL all-reduce bus bandwidth on 8 x A100 SXM4 is 230-240 GB/s (NCCL's tuner models A100 NVLink at 235 GB/s, src/graph/tuning.cc); NCCL's per-step NVLink latency is 0.6-1 us",
    },
    Generation {
        name: "nvlink4",
        description: "NVLink 4 (H100/H200 SXM5, NVSwitch): 450 GB/s per direction",
        link: Interconnect {
            bandwidth_gb_s: 360.0,
            latency_us: 1.0,
        },
        source: "NCCL ring all-reduce bus bandwidth on 8 x H100 SXM5 is about 360 GB/s (450-480 with NVLink SHARP); per-step latency as NVLink 3",
    },
    Generation {
        name: "nvlink5",
        description: "NVLink 5 (B200, NVSwitch): 900 GB/s per direction",
        link: Interconnect {
            bandwidth_gb_s: 720.0,
            latency_us: 1.0,
        },
        source: "twice NVLink 4's links (NVIDIA Blackwell datasheet: 1.8 TB/s per GPU), at NVLink 4's efficiency",
    },
    Generation {
        name: "pcie4",
        description: "PCIe Gen4 x16 without NVLink (L4, L40S, A10G, RTX 4090, A100 PCIe)",
        link: Interconnect {
            bandwidth_gb_s: 20.0,
            latency_us: 5.0,
        },
        source: "32 GB/s per direction on the wire; NCCL all-reduce over PCIe without NVLink reaches about 20 GB/s of bus bandwidth through the host bridge, with steps of several us",
    },
    Generation {
        name: "pcie5",
        description: "PCIe Gen5 x16 without NVLink (RTX PRO 6000, H100 PCIe)",
        link: Interconnect {
            bandwidth_gb_s: 40.0,
            latency_us: 5.0,
        },
        source: "64 GB/s per direction on the wire (measured P2P 53-56 GB/s one way on RTX PRO 6000 systems); NCCL through the host bridge at PCIe Gen4's efficiency",
    },
    Generation {
        name: "infinity-fabric",
        description: "AMD Infinity Fabric (MI300X, 8 GPUs fully connected)",
        link: Interconnect {
            bandwidth_gb_s: 300.0,
            latency_us: 2.0,
        },
        source: "seven 64 GB/s links per GPU (448 GB/s per direction in all); RCCL all-reduce bus bandwidth on 8 x MI300X is about 300 GB/s",
    },
];

impl Interconnect {
    /// The figures of a named generation (`nvlink4`, `pcie5`, ...; see [`GENERATIONS`]).
    pub fn named(name: &str) -> Option<Interconnect> {
        let name = name.trim().to_ascii_lowercase();
        GENERATIONS.iter().find(|g| g.name == name).map(|g| g.link)
    }

    /// A link given as text: a generation's name, or `BANDWIDTH_GB_S,LATENCY_US` (`40,5`).
    pub fn parse(text: &str) -> Result<Interconnect, String> {
        if let Some(link) = Interconnect::named(text) {
            return Ok(link);
        }
        let parsed = text.split_once(',').and_then(|(b, l)| {
            let (b, l) = (b.trim().parse::<f64>().ok()?, l.trim().parse::<f64>().ok()?);
            (b.is_finite() && b > 0.0 && l.is_finite() && l >= 0.0).then_some((b, l))
        });
        parsed
            .map(|(bandwidth_gb_s, latency_us)| Interconnect {
                bandwidth_gb_s,
                latency_us,
            })
            .ok_or_else(|| {
                format!("`{text}`: a generation (nvlink3, nvlink4, nvlink5, pcie4, pcie5, infinity-fabric) or BANDWIDTH_GB_S,LATENCY_US (e.g. 40,5)")
            })
    }

    /// Time of one step moving `bytes`, µs.
    fn step_us(&self, bytes: f64) -> f64 {
        // 1 GB/s moves 1,000 bytes per µs.
        self.latency_us + bytes / (self.bandwidth_gb_s * 1e3)
    }

    /// Ring all-reduce of `bytes` (the whole buffer each rank holds) over `ranks`, µs.
    pub fn all_reduce_us(&self, bytes: f64, ranks: u32) -> f64 {
        if ranks <= 1 || bytes <= 0.0 {
            return 0.0;
        }
        let n = f64::from(ranks);
        2.0 * (n - 1.0) * self.step_us(bytes / n)
    }

    /// Ring all-gather where each of `ranks` contributes `bytes_per_rank`, µs.
    pub fn all_gather_us(&self, bytes_per_rank: f64, ranks: u32) -> f64 {
        if ranks <= 1 || bytes_per_rank <= 0.0 {
            return 0.0;
        }
        f64::from(ranks - 1) * self.step_us(bytes_per_rank)
    }

    /// Ring reduce-scatter of `bytes` (the whole buffer each rank holds) over `ranks`, µs.
    pub fn reduce_scatter_us(&self, bytes: f64, ranks: u32) -> f64 {
        if ranks <= 1 || bytes <= 0.0 {
            return 0.0;
        }
        let n = f64::from(ranks);
        (n - 1.0) * self.step_us(bytes / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_all_reduce_moves_two_n_minus_one_over_n_of_the_buffer() {
        let link = Interconnect {
            bandwidth_gb_s: 100.0,
            latency_us: 5.0,
        };
        // 2 ranks, 1 MB: 2 steps of 0.5 MB at 100 GB/s (5 µs each) plus 5 µs latency each.
        assert!((link.all_reduce_us(1e6, 2) - 20.0).abs() < 1e-9);
        // 8 ranks: 14 steps of 125 KB (1.25 µs) plus latency.
        assert!((link.all_reduce_us(1e6, 8) - 14.0 * 6.25).abs() < 1e-9);
        assert_eq!(link.all_reduce_us(1e6, 1), 0.0);
        assert!((link.all_gather_us(1e6, 2) - 15.0).abs() < 1e-9);
        assert!((link.reduce_scatter_us(1e6, 2) - 10.0).abs() < 1e-9);
    }
}
