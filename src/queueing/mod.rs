//! The analytic model of one replica: a state-dependent M/M/1/K queue over the perf model's
//! service curve, its metrics at an arrival rate, and sizing (the largest rate that meets
//! latency targets).
//!
//! Exactly upstream's model (`domain.md` sections 2-3), in `f64`: results agree with upstream's
//! `float32` golden vectors to better than 1e-3 relative. Pure: no I/O.

pub mod batch;
pub mod chain;
pub mod concurrency;
mod replica;
mod sizing;
pub mod tail;
pub mod waiting;

pub use crate::slo::Targets;
pub use replica::{InvalidModel, Metrics, ReplicaModel};
pub use sizing::{Binding, Sizing, SizingError, size};
pub use waiting::{QueueModel, Variability};

/// Upstream's `Epsilon`: the valid rate range is `[EPS*mu(1), (1-EPS)*mu(N)]`.
pub const RATE_RANGE_EPSILON: f64 = 0.001;
/// Relative tolerance of the sizing bisection.
pub const BISECTION_TOLERANCE: f64 = 1e-6;
/// Maximum bisection steps.
pub const BISECTION_MAX_STEPS: usize = 100;
/// Default queue allowance per unit of max batch (upstream gen 1: `Q = 10*N`).
pub const DEFAULT_QUEUE_PER_BATCH: u32 = 10;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::{Gen1Params, Gen2Params, PerfParams, RequestShape};
    use proptest::prelude::*;

    fn golden_model() -> ReplicaModel {
        // domain.md section 2: RPS 3, N 48, in 128, out 512, alpha 12, beta 0.05, gamma 0.0005, Q 128.
        let params = PerfParams::V2(Gen2Params {
            alpha_ms: 12.0,
            beta_ms_per_token: 0.05,
            gamma_ms_per_kv_token: 0.0005,
        });
        let shape = RequestShape {
            prompt_tokens: 128.0,
            output_tokens: 512.0,
        };
        ReplicaModel::new(params, shape, 48, 128).unwrap()
    }

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn gen2_golden_vector() {
        let m = golden_model().analyze(3.0).unwrap();
        assert!(rel(m.ttft_ms, 75.317) < 1e-4, "{}", m.ttft_ms);
        assert!(rel(m.itl_ms, 20.5345) < 1e-4, "{}", m.itl_ms);
        assert!(rel(m.wait_ms, 28.275) < 1e-4, "{}", m.wait_ms);
        assert!(rel(m.mean_batch, 31.6205) < 1e-4, "{}", m.mean_batch);
        assert!(rel(m.max_rate_rps, 3.8208) < 1e-4, "{}", m.max_rate_rps);
    }

    #[test]
    fn gen2_golden_sizing() {
        let s = size(
            &golden_model(),
            &Targets {
                ttft_ms: Some(60.0),
                itl_ms: Some(20.0),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(rel(s.rate_ttft_rps, 2.9106) < 1e-4, "{}", s.rate_ttft_rps);
        assert!(rel(s.rate_itl_rps, 2.8741) < 1e-4, "{}", s.rate_itl_rps);
        assert_eq!(s.rate_rps, s.rate_itl_rps);
        assert_eq!(s.binding, Binding::Itl);
        assert!(rel(s.metrics.itl_ms, 20.0) < 1e-5);
    }

    #[test]
    fn unreachable_targets_are_infeasible_and_loose_ones_give_the_max_rate() {
        let model = golden_model();
        let err = size(
            &model,
            &Targets {
                ttft_ms: Some(10.0),
                itl_ms: None,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, SizingError::Infeasible { metric: "TTFT", .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("below the best achievable"));
        let s = size(
            &model,
            &Targets {
                ttft_ms: Some(1e9),
                itl_ms: Some(1e9),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.binding, Binding::Capacity);
        assert_eq!(s.rate_rps, model.rate_range_rps().1);
        let none = size(&model, &Targets::default()).unwrap();
        assert_eq!(none.rate_rps, model.rate_range_rps().1);
    }

    #[test]
    fn gen1_near_zero_load_reads_the_lines_at_batch_one() {
        let p = Gen1Params {
            alpha_ms: 7.47,
            beta_ms_per_request: 0.044,
            gamma_ms: 15.415,
            delta_ms_per_token_request: 0.000337,
        };
        let shape = RequestShape {
            prompt_tokens: 1000.0,
            output_tokens: 200.0,
        };
        let model = ReplicaModel::new(PerfParams::V1(p), shape, 256, 2560).unwrap();
        let m = model.analyze(1e-6).unwrap();
        assert!(rel(m.itl_ms, 7.47 + 0.044) < 1e-6, "{}", m.itl_ms);
        assert!(
            rel(m.ttft_ms, 15.415 + 0.000337 * 1000.0) < 1e-6,
            "{}",
            m.ttft_ms
        );
    }

    #[test]
    fn overload_is_reported_by_blocking_not_a_panic() {
        let model = golden_model();
        let m = model.analyze(100.0).unwrap();
        assert!(m.blocking_probability > 0.9);
        assert!(m.throughput_rps < model.rate_range_rps().1 / 0.999 * 1.0001);
        assert!(model.analyze(0.0).is_none());
        assert!(model.analyze(f64::NAN).is_none());
    }

    #[test]
    fn degenerate_parameters_are_refused() {
        let params = PerfParams::V2(Gen2Params {
            alpha_ms: 0.0,
            beta_ms_per_token: 0.0,
            gamma_ms_per_kv_token: 0.0,
        });
        let shape = RequestShape {
            prompt_tokens: 10.0,
            output_tokens: 10.0,
        };
        assert!(ReplicaModel::new(params, shape, 8, 80).is_err());
        let ok = PerfParams::V2(Gen2Params {
            alpha_ms: 1.0,
            beta_ms_per_token: 0.0,
            gamma_ms_per_kv_token: 0.0,
        });
        assert!(
            ReplicaModel::new(
                ok,
                RequestShape {
                    prompt_tokens: 1.0,
                    output_tokens: 0.5
                },
                8,
                80
            )
            .is_err()
        );
    }

    fn arb_model() -> impl Strategy<Value = ReplicaModel> {
        (
            1.0f64..50.0,
            0.0f64..0.2,
            0.0f64..0.002,
            1u32..300,
            0u32..3000,
            1.0f64..4000.0,
            1.0f64..2000.0,
            0usize..3,
        )
            .prop_map(|(alpha, beta, gamma, n, q, input, output, kind)| {
                let iteration = Gen2Params {
                    alpha_ms: alpha,
                    beta_ms_per_token: beta,
                    gamma_ms_per_kv_token: gamma,
                };
                let params = match kind {
                    0 => PerfParams::V1(Gen1Params {
                        alpha_ms: alpha,
                        beta_ms_per_request: beta,
                        gamma_ms: alpha * 2.0,
                        delta_ms_per_token_request: gamma,
                    }),
                    1 => PerfParams::V2(iteration),
                    _ => PerfParams::V3(crate::perf::Gen3Params {
                        iteration,
                        max_num_batched_tokens: 2048.max(n),
                    }),
                };
                ReplicaModel::new(
                    params,
                    RequestShape {
                        prompt_tokens: input,
                        output_tokens: output,
                    },
                    n,
                    q,
                )
                .unwrap()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// More load never lowers latency, the mean batch or utilisation.
        #[test]
        fn latency_rises_with_load(model in arb_model(), a in 0.01f64..0.99, b in 0.01f64..0.99) {
            let (lo, hi) = model.rate_range_rps();
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            let ma = model.analyze(lo + a * (hi - lo)).unwrap();
            let mb = model.analyze(lo + b * (hi - lo)).unwrap();
            prop_assert!(mb.ttft_ms >= ma.ttft_ms * (1.0 - 1e-9), "{} < {}", mb.ttft_ms, ma.ttft_ms);
            prop_assert!(mb.mean_batch >= ma.mean_batch * (1.0 - 1e-9));
            prop_assert!(mb.throughput_rps >= ma.throughput_rps * (1.0 - 1e-9));
            prop_assert!(ma.utilization >= 0.0 && mb.utilization <= 1.0);
        }

        /// Little's law and flow conservation hold in the chain's solution.
        #[test]
        fn chain_is_consistent(model in arb_model(), a in 0.001f64..1.5) {
            let (_, hi) = model.rate_range_rps();
            let m = model.analyze(a * hi).unwrap();
            prop_assert!(m.throughput_rps <= m.offered_rps * (1.0 + 1e-12));
            prop_assert!(m.mean_batch <= f64::from(model.max_batch()) * (1.0 + 1e-12));
            prop_assert!(m.mean_batch <= m.mean_in_system * (1.0 + 1e-9));
            prop_assert!((m.response_ms * m.throughput_rps / 1000.0 - m.mean_in_system).abs() <= 1e-6 * m.mean_in_system.max(1e-9));
        }

        /// A looser target never sizes a lower rate, and the sized rate meets the targets.
        #[test]
        fn sizing_is_monotone_in_the_target(model in arb_model(), t in 1.0f64..4.0, loosen in 1.0f64..2.0) {
            let base = model.analyze(model.rate_range_rps().0).unwrap();
            let tight = Targets { ttft_ms: Some(base.ttft_ms * t), itl_ms: Some(base.itl_ms * t), ..Default::default()  };
            let loose = Targets { ttft_ms: Some(base.ttft_ms * t * loosen), itl_ms: Some(base.itl_ms * t * loosen), ..Default::default()  };
            let st = size(&model, &tight).unwrap();
            let sl = size(&model, &loose).unwrap();
            prop_assert!(sl.rate_rps >= st.rate_rps * (1.0 - 1e-9));
            prop_assert!(st.metrics.ttft_ms <= base.ttft_ms * t * (1.0 + 1e-5));
            prop_assert!(st.metrics.itl_ms <= base.itl_ms * t * (1.0 + 1e-5));
        }
    }
}
