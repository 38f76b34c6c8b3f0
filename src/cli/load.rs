//! Flags that shape synthetic load, shared by `wva simulate` and `wva trace synth`: the arrival
//! process and the token-length distributions around each workload's means.

use super::args;
use crate::error::Error;
use crate::load::shape::{LengthShape, Shape, UNIFORM_MAX_CV};
use crate::spec::ArrivalProcess;
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

/// A length shape from its flag; `cv` only for lognormal and uniform.
fn length_shape(flag: &str, arg: DistArg, cv: Option<f64>) -> Result<LengthShape, Error> {
    let no_cv = |name: &str| match cv {
        Some(_) => Err(Error::Usage(format!(
            "--{flag}-cv applies to lognormal and uniform lengths, not {name}"
        ))),
        None => Ok(()),
    };
    Ok(match arg {
        DistArg::Fixed => {
            no_cv("fixed")?;
            LengthShape::Fixed
        }
        DistArg::Exponential => {
            no_cv("exponential")?;
            LengthShape::Exponential
        }
        DistArg::Lognormal => LengthShape::Lognormal {
            cv: cv.unwrap_or(1.0),
        },
        DistArg::Uniform => {
            let cv = cv.unwrap_or(0.5);
            if cv > UNIFORM_MAX_CV {
                return Err(Error::Usage(format!(
                    "--{flag}-cv must be at most 0.577 for uniform lengths (a uniform distribution around its mean spreads no further), got {cv}"
                )));
            }
            LengthShape::Uniform { cv }
        }
    })
}

impl ShapeArgs {
    /// The overrides the flags give, checked.
    pub fn shape(&self) -> Result<Shape, Error> {
        if self.arrival_cv.is_some() && self.arrivals != Some(ArrivalArg::Gamma) {
            return Err(Error::Usage(
                "--arrival-cv applies to --arrivals gamma".into(),
            ));
        }
        Ok(Shape {
            prompt: self
                .prompt_dist
                .map(|d| length_shape("prompt", d, self.prompt_cv))
                .transpose()?,
            output: self
                .output_dist
                .map(|d| length_shape("output", d, self.output_cv))
                .transpose()?,
            arrivals: self.arrivals.map(|arg| match arg {
                ArrivalArg::Poisson => ArrivalProcess::Poisson,
                ArrivalArg::Deterministic => ArrivalProcess::Deterministic,
                ArrivalArg::Gamma => ArrivalProcess::Gamma {
                    cv: self.arrival_cv.unwrap_or(1.0),
                },
            }),
        })
    }
}
