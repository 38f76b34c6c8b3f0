//! The value lists of the command line's flags: which library enum takes which names, and
//! what `--help` says of each. The library's types know nothing of clap; the names here are
//! the ones their serialised forms and reports use.

use crate::estimate::read::SourceFormat;
use crate::k8s::objects::{Autoscaler, Schema};
use crate::optimize::{SaturationPolicy, SolverKind};
use crate::queueing::QueueModel;
use crate::replay::PolicyKind;
use crate::replay::policy::RateSource;
use crate::report::OutputFormat;
use crate::sim::Router;
use crate::trace::Format;
use crate::validate::SectionId;
use clap::ValueEnum;
use clap::builder::PossibleValue;

/// `impl ValueEnum for TYPE`: each variant, its name on the command line, and its help.
macro_rules! value_list {
    ($ty:ident { $($variant:ident => $name:literal, $help:literal;)+ }) => {
        impl ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                &[$($ty::$variant),+]
            }
            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(match self {
                    $($ty::$variant => PossibleValue::new($name).help($help)),+
                })
            }
        }
    };
}

value_list!(Format {
    Canonical => "canonical", "`wva`'s own CSV: `arrival_s,prompt_tokens,output_tokens[,model]`";
    Azure => "azure", "Azure LLM inference trace 2023: `TIMESTAMP,ContextTokens,GeneratedTokens`";
    Mooncake => "mooncake", "Mooncake JSONL: `timestamp` (ms), `input_length`, `output_length`, `hash_ids`";
    Burstgpt => "burstgpt", "BurstGPT CSV: `Timestamp, Model, Request tokens, Response tokens, Total tokens, Log Type`";
    Lmbench => "lmbench", "llm-d-benchmark / LMBench per-request CSV: `prompt_tokens, generation_tokens, ttft, generation_time, launch_time, finish_time`";
    Vidur => "vidur", "Vidur's processed trace CSV: `arrived_at,num_prefill_tokens,num_decode_tokens`";
    Llmservingsim => "llmservingsim", "LLMServingSim JSONL: workload files (`input_toks, output_toks, arrival_time_ns`) and measured runs (`input_toks, output_toks, arrival_time, queued_ts, first_token_ts, last_token_ts`)";
});

value_list!(Schema {
    V04 => "v0.4", "`wva-incubation-2025-10`: modelID, sloClassRef, modelProfile with perf parameters";
    V05 => "v0.5", "`wva-llm-d-2026-02`: scaleTargetRef, modelID, variantCost";
});

value_list!(Autoscaler {
    Hpa => "hpa", "An `autoscaling/v2` HorizontalPodAutoscaler on the External metric";
    Keda => "keda", "A KEDA `ScaledObject` with a Prometheus trigger on the metric";
});

value_list!(QueueModel {
    Mm1k => "mm1k", "Upstream's state-dependent M/M/1/K chain";
    Mg1 => "mg1", "Pollaczek-Khinchine M/G/1 at the full-batch rate";
    AllenCunneen => "allen-cunneen", "Allen-Cunneen M/G/c over the batch slots";
});

value_list!(OutputFormat {
    Table => "table", "A table for people (the default)";
    Json => "json", "JSON (pretty-printed)";
    Yaml => "yaml", "YAML";
    Csv => "csv", "CSV, one row per allocation";
    InfernoJson => "inferno-json", "Upstream's inferno solution JSON (`allocations` keyed by server name)";
});

value_list!(SourceFormat {
    Lmbench => "lmbench", "llm-d-benchmark / LMBench per-request CSV, one file per request rate";
    Splitwise => "splitwise", "Splitwise `perf_model.csv`: per-configuration prefill and decode iteration times";
    LlmservingsimProfile => "llmservingsim-profile", "LLMServingSim profiler tables (`attention.csv`, `dense.csv`, `per_sequence.csv` of one model, GPU and TP degree): a folder";
    Argonne => "argonne", "Argonne LLM-Inference-Bench `All_results.csv`: whole static batches";
    VllmBench => "vllm-bench", "vLLM `benchmark_serving.py --save-result` JSON";
    Guidellm => "guidellm", "GuideLLM JSON report";
    Csv => "csv", "Any CSV of per-iteration times, columns named or mapped with --columns";
    Sweep => "sweep", "A summary of a load sweep: one row per run (concurrency or rate, token lengths, TTFT, TPOT), columns named or mapped with --columns";
    Prometheus => "prometheus", "Per-step observations of a variant in production (`wva observe --observations-out`): grouped into load levels and calibrated as rates over the variant's replicas";
});

value_list!(Router {
    RoundRobin => "round-robin", "In turn. The default: it splits load evenly, as the analytic model assumes";
    Random => "random", "Uniformly at random";
    LeastOutstanding => "least-outstanding", "The replica with the fewest requests in it (running + waiting); ties to the lowest index. Consecutive arrivals tend to land on the same replica and share its prefill iterations, so TTFT is often worse than round-robin (markedly so with fixed lengths, which keep replicas' completions in step)";
    PowerOfTwo => "power-of-two", "The less loaded of two replicas drawn at random";
});

value_list!(PolicyKind {
    WvaPredictive => "wva-predictive", "`wva`'s policy: the model sized for the forecast load at start-up lead, the recent bursts and the backlog, with damped scale-down";
    WvaModel => "wva-model", "Upstream's model-based loop: the analytic model sized on the last window's load";
    Saturation => "saturation", "Upstream's KV-cache and queue saturation rules (V1)";
    SaturationV2 => "saturation-v2", "Upstream's token-based saturation engine (V2, WVA v0.5+)";
    HpaUtilisation => "hpa-utilisation", "A Kubernetes HPA on batch utilisation";
    Static => "static", "A fixed count (peak provisioning)";
    Oracle => "oracle", "The plan for each interval's true load, in place as it starts: the cost lower bound";
});

value_list!(RateSource {
    Arrivals => "arrivals", "Requests arriving (what the gateway sees)";
    Completions => "completions", "Requests completing (`vllm:request_success_total`, as upstream measured it): lags, and under-counts an overloaded fleet";
});

value_list!(SectionId {
    ClosedForms => "closed-forms", "The simulator against M/M/1 and M/D/1";
    Analytic => "analytic", "The analytic model against the simulator over load, per shipped profile";
    QueueModels => "queue-models", "The three queue models against the simulator";
    Routers => "routers", "Routers on one fleet";
    Lmbench => "lmbench", "llm-d-benchmark Llama-3.1-70B on 2xA100: fitted parameters, replayed";
    Llmservingsim => "llmservingsim", "LLMServingSim's vLLM 0.19 runs, end to end";
    Tables => "tables", "The tables cost model on LLMServingSim's four runs (two of them blind)";
    Qwen => "qwen", "The Qwen2.5-14B/H100 concurrency curve and its KV cliff";
    Collectives => "collectives", "The all-reduce model against measured NCCL and vLLM all-reduces";
    Kv => "kv", "KV capacity from the model and the GPU";
    Calibration => "calibration", "Calibration through the simulator on held-out runs";
});

value_list!(SaturationPolicy {
    None => "none", "Leave them unallocated";
    PriorityExhaustive => "priority-exhaustive", "Each in turn takes all it can";
    PriorityRoundRobin => "priority-round-robin", "Round-robin within each priority level";
    RoundRobin => "round-robin", "Round-robin over all of them";
});

value_list!(SolverKind {
    Unlimited => "unlimited", "Cheapest candidate per server, ignoring inventory";
    Greedy => "greedy", "Upstream's greedy under the inventory";
    Exact => "exact", "The optimal allocation under the inventory (a MILP)";
});

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name parses back to its variant, and no two variants share a name.
    fn round_trips<T: ValueEnum + PartialEq + std::fmt::Debug>() {
        let mut names = std::collections::BTreeSet::new();
        for v in T::value_variants() {
            let name = v.to_possible_value().unwrap().get_name().to_string();
            assert!(names.insert(name.clone()), "{name} twice");
            assert_eq!(T::from_str(&name, false).as_ref(), Ok(v));
        }
    }

    #[test]
    fn every_list_round_trips() {
        round_trips::<Format>();
        round_trips::<Schema>();
        round_trips::<Autoscaler>();
        round_trips::<QueueModel>();
        round_trips::<OutputFormat>();
        round_trips::<SourceFormat>();
        round_trips::<Router>();
        round_trips::<PolicyKind>();
        round_trips::<RateSource>();
        round_trips::<SectionId>();
        round_trips::<SaturationPolicy>();
        round_trips::<SolverKind>();
    }

    #[test]
    fn names_are_the_serialised_names() {
        // Reports and scenario files spell these values as the command line does.
        for v in Router::value_variants() {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(
                json.trim_matches('"'),
                v.to_possible_value().unwrap().get_name()
            );
        }
        for v in PolicyKind::value_variants() {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(
                json.trim_matches('"'),
                v.to_possible_value().unwrap().get_name()
            );
        }
        for v in QueueModel::value_variants() {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(
                json.trim_matches('"'),
                v.to_possible_value().unwrap().get_name()
            );
        }
    }
}
