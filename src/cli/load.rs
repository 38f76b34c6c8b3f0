//! Flags that shape synthetic load, shared by `wva simulate` and `wva trace synth`: the arrival
//! process and the token-length distributions around each workload's means.

use super::args;
use crate::error::Error;
use crate::spec::{ArrivalProcess, LengthDist, Workload};
use clap::{Args, ValueEnum};

/// Token-length distributions for flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum DistArg {
    /// Every request the same.
    Fixed,
    /// Exponential.
    Exponential,
    /// Log-normal (give --*-cv).
    Lognormal,
    /// Uniform, symmetric around the mean (give --*-cv).
    Uniform,
}

/// Arrival processes for flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum ArrivalArg {
    /// Exponential gaps.
    Poisson,
    /// Evenly spaced.
    Deterministic,
    /// Gamma gaps with --arrival-cv.
    Gamma,
}

/// The arrival process and length distributions.
#[derive(Debug, Args)]
pub(super) struct ShapeArgs {
    /// Arrival process of every workload (default: the scenario's, else Poisson)
    #[arg(long, value_enum)]
    pub arrivals: Option<ArrivalArg>,
    /// Coefficient of variation of gamma inter-arrival times (default 1: Poisson-like)
    #[arg(long, value_parser = args::positive)]
    pub arrival_cv: Option<f64>,
    /// Prompt-length distribution of every workload around its mean (default: the scenario's)
    #[arg(long, value_enum)]
    pub prompt_dist: Option<DistArg>,
    /// Coefficient of variation for --prompt-dist lognormal (default 1) or uniform (default 0.5,
    /// at most 0.577)
    #[arg(long, value_parser = args::positive, requires = "prompt_dist")]
    pub prompt_cv: Option<f64>,
    /// Output-length distribution of every workload around its mean (default: the scenario's)
    #[arg(long, value_enum)]
    pub output_dist: Option<DistArg>,
    /// Coefficient of variation for --output-dist lognormal (default 1) or uniform (default 0.5,
    /// at most 0.577)
    #[arg(long, value_parser = args::positive, requires = "output_dist")]
    pub output_cv: Option<f64>,
}

/// The largest coefficient of variation of a uniform distribution on `[0, 2 mean]`.
const UNIFORM_MAX_CV: f64 = 0.577_350_269_189_625_7;

/// A length distribution around `mean`; `cv` only for lognormal and uniform.
fn dist(flag: &str, arg: DistArg, mean: f64, cv: Option<f64>) -> Result<LengthDist, Error> {
    let no_cv = |name: &str| match cv {
        Some(_) => Err(Error::Usage(format!(
            "--{flag}-cv applies to lognormal and uniform lengths, not {name}"
        ))),
        None => Ok(()),
    };
    Ok(match arg {
        DistArg::Fixed => {
            no_cv("fixed")?;
            LengthDist::Fixed { mean }
        }
        DistArg::Exponential => {
            no_cv("exponential")?;
            LengthDist::Exponential { mean }
        }
        DistArg::Lognormal => LengthDist::Lognormal {
            mean,
            cv: cv.unwrap_or(1.0),
        },
        DistArg::Uniform => {
            let cv = cv.unwrap_or(0.5);
            if cv > UNIFORM_MAX_CV {
                return Err(Error::Usage(format!(
                    "--{flag}-cv must be at most 0.577 for uniform lengths (a uniform distribution around its mean spreads no further), got {cv}"
                )));
            }
            // Symmetric around the mean, which it keeps.
            let half = mean * cv * 3f64.sqrt();
            LengthDist::Uniform {
                min: (mean - half).max(0.0),
                max: mean + half,
            }
        }
    })
}

impl ShapeArgs {
    /// Checks flags that only make sense together.
    pub fn check(&self) -> Result<(), Error> {
        if self.arrival_cv.is_some() && self.arrivals != Some(ArrivalArg::Gamma) {
            return Err(Error::Usage(
                "--arrival-cv applies to --arrivals gamma".into(),
            ));
        }
        Ok(())
    }

    /// Applies the flags given to `w` (its means stay).
    pub fn apply(&self, w: &mut Workload) -> Result<(), Error> {
        self.check()?;
        if let Some(arg) = self.prompt_dist {
            w.prompt_dist = dist("prompt", arg, w.prompt_tokens, self.prompt_cv)?;
        }
        if let Some(arg) = self.output_dist {
            w.output_dist = dist("output", arg, w.output_tokens, self.output_cv)?;
        }
        if let Some(arg) = self.arrivals {
            w.arrivals = match arg {
                ArrivalArg::Poisson => ArrivalProcess::Poisson,
                ArrivalArg::Deterministic => ArrivalProcess::Deterministic,
                ArrivalArg::Gamma => ArrivalProcess::Gamma {
                    cv: self.arrival_cv.unwrap_or(1.0),
                },
            };
        }
        Ok(())
    }
}
