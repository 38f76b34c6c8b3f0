//! Mean queueing wait of the three queue models against the simulator (prints a table).
use wva::perf::RequestShape;
use wva::queueing::waiting::service_scv;
use wva::queueing::{QueueModel, ReplicaModel, Targets, Variability};
use wva::sim::setup::{EngineOverrides, engine_config};
use wva::sim::{Generator, Horizon, SimConfig, Traffic, run};
use wva::spec::{ArrivalProcess, LengthDist, load_profiles};
fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let profile = load_profiles(&root.join("profiles/llama-3.1-8b-instruct.yaml"))
        .unwrap()
        .remove(0);
    let (p_in, p_out) = (1155.0, 211.0);
    let shape = RequestShape {
        prompt_tokens: p_in,
        output_tokens: p_out,
    };
    for batch in [16u32, 128] {
        for (name, out) in [
            ("fixed", LengthDist::Fixed { mean: p_out }),
            ("exponential", LengthDist::Exponential { mean: p_out }),
            (
                "lognormal cv2",
                LengthDist::Lognormal {
                    mean: p_out,
                    cv: 2.0,
                },
            ),
        ] {
            let base =
                ReplicaModel::new(profile.perf, shape, batch, profile.queue_for(batch)).unwrap();
            let v = Variability {
                arrival_scv: 1.0,
                service_scv: service_scv(base.curve(), 0.0, out.variance()),
            };
            let max = base.rate_range_rps().1;
            for load in [0.5, 0.7, 0.85, 0.95] {
                let rate = load * max;
                let w = |q| {
                    base.clone()
                        .with_queue_model(q, v)
                        .analyze(rate)
                        .unwrap()
                        .wait_ms
                };
                let engine = engine_config(&profile, batch, &EngineOverrides::default());
                let cfg = SimConfig::one_group("w", vec![engine], Targets::default(), 1);
                let t = Traffic {
                    rate_rps: rate,
                    arrivals: ArrivalProcess::Poisson,
                    prompt: LengthDist::Fixed { mean: p_in },
                    output: out,
                };
                let mut sims = Vec::new();
                for seed in 1..4 {
                    let g = run(
                        &cfg,
                        Generator::new(&[t], Horizon::Requests(100000), 0.1, seed),
                        &mut |_| {},
                    )
                    .unwrap()
                    .groups
                    .remove(0);
                    sims.push(g.queue_wait_ms.mean);
                }
                let sim = sims.iter().sum::<f64>() / 3.0;
                println!(
                    "batch {batch} {name:14} cs2 {:.2} load {load}: sim {sim:8.1} | mm1k {:8.1} | mg1 {:8.1} | ac {:8.1}",
                    v.service_scv,
                    w(QueueModel::Mm1k),
                    w(QueueModel::Mg1),
                    w(QueueModel::AllenCunneen)
                );
            }
        }
    }
}
