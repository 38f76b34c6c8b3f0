//! The analytic model against the simulator at 50% of the analytic maximum rate, for the golden
//! gen-2 vector of `domain.md` and the shipped measured profiles.
//!
//! Issue target: mean TTFT and ITL within 10%. ITL meets it (within 2.5%) and is asserted.
//! TTFT does not everywhere, and the reason is structural: upstream's analytic TTFT is
//! `wait + prefill + ITL`, while a request in vLLM (and in the simulator) waits for the
//! iteration in progress to end and then for one iteration that holds its prefill beside the
//! running decodes. The simulated TTFT therefore lies between `wait + prefill` and upstream's
//! TTFT, which is asserted; the figures (-3% to -22% against upstream's TTFT) are printed with
//! `--nocapture` and reported in `docs/validation.md`. Gen-1 profiles are not checked here:
//! their prefill term is a static-batch cost that continuous batching pays per iteration (see
//! `docs/validation.md`).

use wva::perf::RequestShape;
use wva::sim::agreement::compare;
use wva::spec::{Profile, load_profiles};

const TOLERANCE: f64 = 0.10;

fn check(name: &str, profile: &Profile, shape: RequestShape) {
    let points = compare(profile, shape, &[0.5], 200_000, 7).unwrap();
    let p = &points[0];
    eprintln!(
        "{name}: {:.3} req/s; TTFT sim {:.2} ms vs wait+prefill {:.2} ({:+.1}%), vs upstream TTFT {:.2} ({:+.1}%); ITL sim {:.3} vs {:.3} ({:+.1}%)",
        p.rate_rps,
        p.sim_ttft_ms.mean,
        p.analytic_prefill_end_ms(),
        p.ttft_prefill_end_error() * 100.0,
        p.analytic_ttft_ms(),
        p.ttft_error() * 100.0,
        p.sim_itl_ms.mean,
        p.analytic.itl_ms,
        p.itl_error() * 100.0,
    );
    assert!(
        p.itl_error().abs() <= TOLERANCE,
        "{name}: ITL off by {:+.1}%",
        p.itl_error() * 100.0
    );
    // The simulated TTFT (wait for the iteration in progress, then the iteration that holds the
    // prefill) lies between the analytic end of prefill and upstream's TTFT, which adds a
    // whole decode step.
    assert!(
        p.analytic_prefill_end_ms() < p.sim_ttft_ms.mean
            && p.sim_ttft_ms.mean < p.analytic_ttft_ms(),
        "{name}: simulated TTFT {:.2} ms outside [{:.2}, {:.2}]",
        p.sim_ttft_ms.mean,
        p.analytic_prefill_end_ms(),
        p.analytic_ttft_ms()
    );
    // Throughput is conserved: what arrives is served.
    assert!((p.sim_throughput_rps / p.rate_rps - 1.0).abs() < 0.02);
}

#[test]
fn golden_vector_profile_agrees_at_half_load() {
    let profile = wva::sim::agreement::golden_profile();
    let shape = RequestShape {
        prompt_tokens: 128.0,
        output_tokens: 512.0,
    };
    check("golden", &profile, shape);
}

#[test]
fn shipped_measured_profiles_agree_at_half_load() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, shape) in [
        ("profiles/qwen2.5-14b-instruct.yaml", (1024.0, 512.0)),
        ("profiles/llama-3.1-8b-instruct.yaml", (1155.0, 211.0)),
        ("profiles/llama-3.1-8b-instruct.yaml", (256.0, 64.0)),
    ] {
        for profile in load_profiles(&root.join(file)).unwrap() {
            let shape = RequestShape {
                prompt_tokens: shape.0,
                output_tokens: shape.1,
            };
            check(&format!("{} {:?}", profile.model, shape), &profile, shape);
        }
    }
}
