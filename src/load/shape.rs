//! Overrides of the shape of every workload's load: its arrival process and its token-length
//! distributions around the workload's means (which stay), as `--arrivals`, `--prompt-dist` and
//! `--output-dist` give them.

use crate::spec::{ArrivalProcess, LengthDist, Workload};

/// A token-length distribution's family and spread, around a mean given later.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LengthShape {
    /// Every request the same.
    Fixed,
    /// Exponential.
    Exponential,
    /// Log-normal with this coefficient of variation.
    Lognormal {
        /// Coefficient of variation.
        cv: f64,
    },
    /// Uniform, symmetric around the mean, with this coefficient of variation (at most
    /// [`UNIFORM_MAX_CV`]).
    Uniform {
        /// Coefficient of variation.
        cv: f64,
    },
}

/// The largest coefficient of variation of a uniform distribution on `[0, 2 mean]`.
pub const UNIFORM_MAX_CV: f64 = 0.577_350_269_189_625_7;

impl LengthShape {
    /// The distribution of this shape with mean `mean`.
    pub fn around(self, mean: f64) -> LengthDist {
        match self {
            LengthShape::Fixed => LengthDist::Fixed { mean },
            LengthShape::Exponential => LengthDist::Exponential { mean },
            LengthShape::Lognormal { cv } => LengthDist::Lognormal { mean, cv },
            LengthShape::Uniform { cv } => {
                // Symmetric around the mean, which it keeps.
                let half = mean * cv * 3f64.sqrt();
                LengthDist::Uniform {
                    min: (mean - half).max(0.0),
                    max: mean + half,
                }
            }
        }
    }
}

/// What to override in every workload (`None`: the workload's own).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Shape {
    /// The arrival process.
    pub arrivals: Option<ArrivalProcess>,
    /// The prompt-length distribution.
    pub prompt: Option<LengthShape>,
    /// The output-length distribution.
    pub output: Option<LengthShape>,
}

impl Shape {
    /// Applies the overrides to `w` (its means stay).
    pub fn apply(&self, w: &mut Workload) {
        if let Some(s) = self.prompt {
            w.prompt_dist = s.around(w.prompt_tokens);
        }
        if let Some(s) = self.output {
            w.output_dist = s.around(w.output_tokens);
        }
        if let Some(a) = self.arrivals {
            w.arrivals = a;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shape_keeps_the_mean() {
        for s in [
            LengthShape::Fixed,
            LengthShape::Exponential,
            LengthShape::Lognormal { cv: 0.8 },
            LengthShape::Uniform { cv: 0.5 },
        ] {
            let d = s.around(1000.0);
            assert!((d.mean() - 1000.0).abs() < 1e-9, "{s:?}: {}", d.mean());
        }
        // The widest uniform reaches 0.
        match (LengthShape::Uniform { cv: UNIFORM_MAX_CV }).around(100.0) {
            LengthDist::Uniform { min, max } => {
                assert!(min.abs() < 1e-9 && (max - 200.0).abs() < 1e-9)
            }
            other => panic!("{other:?}"),
        }
    }
}
