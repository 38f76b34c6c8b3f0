//! The attention table: one layer's attention time measured on a grid of iteration shapes (a
//! prefill chunk of `pc` tokens after a prefix of `kp`, beside `nd` decodes of KV length `kd`),
//! and how a real batch is read off it.
//!
//! The grid is not a full product (LLMServingSim's profiler skips shapes the engine cannot
//! run), so it is kept as slices: for every measured `(pc, nd)` pair, the `kp` values measured,
//! and for each, the `kd` values. A lookup interpolates linearly on each axis: `kd` within a
//! row, `kp` across rows, then `nd` and `pc` across the four surrounding slices (a slice that was
//! not measured takes the nearest measured one). Below a grid it clamps, above it extrapolates
//! from the last two points. This is the interpolation LLMServingSim's trace generator uses.

use super::curve::bracket;
use std::collections::BTreeMap;

/// One measured `kp` row of a slice: time by decode KV length.
#[derive(Clone, Debug)]
struct Row {
    kd: Vec<f64>,
    time_us: Vec<f64>,
}

impl Row {
    fn at(&self, kd: f64) -> f64 {
        let (lo, hi, t) = bracket(&self.kd, kd);
        self.time_us[lo] + t * (self.time_us[hi] - self.time_us[lo])
    }
}

/// The measured rows of one `(pc, nd)` pair.
#[derive(Clone, Debug)]
struct Slice {
    kp: Vec<f64>,
    rows: Vec<Row>,
}

impl Slice {
    fn at(&self, kp: f64, kd: f64) -> f64 {
        let (lo, hi, t) = bracket(&self.kp, kp);
        let a = self.rows[lo].at(kd);
        if t == 0.0 {
            return a;
        }
        a + t * (self.rows[hi].at(kd) - a)
    }
}

/// The attention grid of one layer.
#[derive(Clone, Debug)]
pub(crate) struct AttentionGrid {
    pc: Vec<f64>,
    nd: Vec<f64>,
    /// `slices[i * nd.len() + j]`: the slice measured nearest to `(pc[i], nd[j])`.
    slices: Vec<usize>,
    measured: Vec<Slice>,
    /// Rows in the table.
    points: usize,
    /// Pure-decode iterations, the most frequent, precomputed for every whole decode count up to
    /// the grid's largest: `decode[n]` is the grid read at no chunk and `n` decodes, by KV
    /// length (the same interpolation, done once).
    decode: Vec<Row>,
}

impl AttentionGrid {
    /// The grid through `rows` of `[pc, kp, nd, kd, time_us]`.
    ///
    /// # Errors
    /// When there are no rows.
    pub fn new(rows: &[[f64; 5]]) -> Result<Self, String> {
        if rows.is_empty() {
            return Err("no attention rows".into());
        }
        // (pc, nd) -> kp -> [(kd, time)], keyed on the bits of the (finite, >= 0) values so
        // that they sort as numbers.
        type Points = BTreeMap<u64, Vec<(f64, f64)>>;
        let mut by_slice: BTreeMap<(u64, u64), Points> = BTreeMap::new();
        for &[pc, kp, nd, kd, t] in rows {
            by_slice
                .entry((pc.to_bits(), nd.to_bits()))
                .or_default()
                .entry(kp.to_bits())
                .or_default()
                .push((kd, t));
        }
        let mut pc: Vec<f64> = by_slice.keys().map(|k| f64::from_bits(k.0)).collect();
        let mut nd: Vec<f64> = by_slice.keys().map(|k| f64::from_bits(k.1)).collect();
        for v in [&mut pc, &mut nd] {
            v.sort_by(f64::total_cmp);
            v.dedup();
        }
        // A profiler grid has tens of chunk sizes and decode counts; refuse what would take
        // long to index (every missing pair looks for its nearest measured one).
        if pc.len() * nd.len() > 10_000 {
            return Err(format!(
                "{} chunk sizes x {} decode counts: too many distinct values for a profiler grid",
                pc.len(),
                nd.len()
            ));
        }
        let mut measured = Vec::new();
        let mut at: BTreeMap<(u64, u64), usize> = BTreeMap::new();
        for (key, kps) in by_slice {
            let mut slice = Slice {
                kp: Vec::new(),
                rows: Vec::new(),
            };
            for (kp, mut points) in kps {
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                points.dedup_by(|a, b| a.0 == b.0);
                slice.kp.push(f64::from_bits(kp));
                slice.rows.push(Row {
                    kd: points.iter().map(|p| p.0).collect(),
                    time_us: points.iter().map(|p| p.1).collect(),
                });
            }
            at.insert(key, measured.len());
            measured.push(slice);
        }
        let mut slices = Vec::with_capacity(pc.len() * nd.len());
        for &p in &pc {
            for &n in &nd {
                let index = at
                    .get(&(p.to_bits(), n.to_bits()))
                    .copied()
                    .unwrap_or_else(|| {
                        // The nearest measured pair (LLMServingSim: by squared distance).
                        at.iter()
                            .min_by(|a, b| {
                                let d = |k: &(u64, u64)| {
                                    (f64::from_bits(k.0) - p).powi(2)
                                        + (f64::from_bits(k.1) - n).powi(2)
                                };
                                d(a.0).total_cmp(&d(b.0))
                            })
                            .map_or(0, |(_, &i)| i)
                    });
                slices.push(index);
            }
        }
        let mut grid = AttentionGrid {
            pc,
            nd,
            slices,
            measured,
            points: rows.len(),
            decode: Vec::new(),
        };
        // The KV lengths any pure-decode slice measured, and the grid at each.
        let mut kd: Vec<f64> = grid
            .measured
            .iter()
            .flat_map(|s| s.rows.iter().flat_map(|r| r.kd.iter().copied()))
            .collect();
        kd.sort_by(f64::total_cmp);
        kd.dedup();
        let max_nd = grid.nd.last().copied().unwrap_or(0.0).max(0.0) as usize;
        // A profiler grid has tens of KV lengths; an absurd one is read in full each time.
        let rows = if kd.len() > 1_000 {
            0
        } else {
            max_nd.min(4096) + 1
        };
        grid.decode = (0..rows)
            .map(|n| Row {
                time_us: kd
                    .iter()
                    .map(|&k| grid.interpolate(0.0, 0.0, n as f64, k))
                    .collect(),
                kd: kd.clone(),
            })
            .collect();
        Ok(grid)
    }

    /// The largest chunk measured, tokens.
    pub fn largest_chunk(&self) -> f64 {
        self.pc.last().copied().unwrap_or(0.0)
    }

    /// Rows the grid was built from.
    pub fn points(&self) -> usize {
        self.points
    }

    fn corner(&self, i: usize, j: usize, kp: f64, kd: f64) -> f64 {
        self.measured[self.slices[i * self.nd.len() + j]].at(kp, kd)
    }

    /// One layer's attention time, µs, for a chunk of `pc` tokens after `kp` (0 for none)
    /// beside `nd` decodes of KV length `kd`. Never below zero.
    pub fn at(&self, pc: f64, kp: f64, nd: f64, kd: f64) -> f64 {
        if pc == 0.0 && nd.fract() == 0.0 {
            // Pure decode: the precomputed row is exact at the grid's KV lengths and linear
            // between them, as the full interpolation is.
            if let Some(row) = self.decode.get(nd as usize) {
                return row.at(kd).max(0.0);
            }
        }
        self.interpolate(pc, kp, nd, kd)
    }

    fn interpolate(&self, pc: f64, kp: f64, nd: f64, kd: f64) -> f64 {
        let (i0, i1, tp) = bracket(&self.pc, pc);
        let (j0, j1, tn) = bracket(&self.nd, nd);
        let along_nd = |i: usize| {
            let a = self.corner(i, j0, kp, kd);
            if tn == 0.0 {
                a
            } else {
                a + tn * (self.corner(i, j1, kp, kd) - a)
            }
        };
        let v0 = along_nd(i0);
        let v = if tp == 0.0 {
            v0
        } else {
            v0 + tp * (along_nd(i1) - v0)
        };
        v.max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full grid whose time is `1 + pc/16 + kp/1000 + nd + kd/100`: linear, so every lookup
    /// inside it is exact.
    fn linear_grid() -> Vec<[f64; 5]> {
        let mut rows = Vec::new();
        for pc in [0.0, 16.0, 64.0] {
            for kp in [0.0, 512.0, 2048.0] {
                for nd in [0.0, 1.0, 8.0] {
                    for kd in [0.0, 16.0, 1024.0] {
                        let t = 1.0 + pc / 16.0 + kp / 1000.0 + nd + kd / 100.0;
                        rows.push([pc, kp, nd, kd, t]);
                    }
                }
            }
        }
        rows
    }

    #[test]
    fn a_linear_table_is_read_back_exactly_between_its_points() {
        let grid = AttentionGrid::new(&linear_grid()).unwrap();
        for (pc, kp, nd, kd) in [
            (16.0, 512.0, 1.0, 16.0),
            (40.0, 1000.0, 4.5, 700.0),
            (5.0, 0.0, 3.0, 100.0),
        ] {
            let want = 1.0 + pc / 16.0 + kp / 1000.0 + nd + kd / 100.0;
            assert!(
                (grid.at(pc, kp, nd, kd) - want).abs() < 1e-9,
                "{pc} {kp} {nd} {kd}"
            );
        }
        // Beyond the grid: extrapolated along the last segment.
        let want = 1.0 + 128.0 / 16.0 + 0.0 + 16.0 + 2048.0 / 100.0;
        assert!((grid.at(128.0, 0.0, 16.0, 2048.0) - want).abs() < 1e-9);
        assert_eq!(grid.points(), 81);
    }

    #[test]
    fn the_precomputed_decode_rows_equal_the_full_interpolation() {
        // A grid that is not linear, with slices measured at different KV lengths.
        let mut rows = Vec::new();
        for nd in [0.0, 1.0, 4.0, 16.0] {
            let kds: &[f64] = if nd == 4.0 {
                &[16.0, 100.0, 5000.0]
            } else {
                &[0.0, 16.0, 64.0, 1024.0, 4096.0]
            };
            for &kd in kds {
                rows.push([0.0, 0.0, nd, kd, 3.0 + (nd * kd).sqrt() + nd * nd / 7.0]);
            }
            rows.push([64.0, 0.0, nd, 16.0, 50.0 + nd]);
        }
        let grid = AttentionGrid::new(&rows).unwrap();
        for nd in 0..=20u32 {
            for kd in [0.0, 7.0, 16.0, 40.0, 99.0, 700.0, 3000.0, 4096.0, 9000.0] {
                let (fast, full) = (
                    grid.at(0.0, 0.0, f64::from(nd), kd),
                    grid.interpolate(0.0, 0.0, f64::from(nd), kd).max(0.0),
                );
                assert!(
                    (fast - full).abs() < 1e-9 * full.max(1.0),
                    "{nd} {kd}: {fast} {full}"
                );
            }
        }
    }

    #[test]
    fn a_missing_slice_takes_the_nearest_measured_one() {
        let mut rows = linear_grid();
        rows.retain(|r| !(r[0] == 64.0 && r[2] == 8.0));
        let grid = AttentionGrid::new(&rows).unwrap();
        // (64, 8) is gone: its nearest measured pair is (64, 1).
        let want = 1.0 + 64.0 / 16.0 + 1.0 + 16.0 / 100.0;
        assert!((grid.at(64.0, 0.0, 8.0, 16.0) - want).abs() < 1e-9);
        assert!(AttentionGrid::new(&[]).is_err());
    }
}
