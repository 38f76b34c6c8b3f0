//! The `VariantAutoscaling` custom resource (`llmd.ai/v1alpha1`) in its two published schemas,
//! as Rust types: what `wva apply` emits, and (through `kube`'s derive and `schemars`) the CRD
//! `--include-crd` writes. Field names, requirements and validations follow upstream's CRDs
//! (`wva-incubation-2025-10` for v0.4, `wva-llm-d-2026-02` for v0.5).

use serde::{Deserialize, Serialize};

/// A status condition (the Kubernetes `metav1.Condition` shape).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// When the condition last changed (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: String,
    /// Human-readable details.
    #[schemars(length(max = 32768))]
    pub message: String,
    /// The generation the condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
    /// A CamelCase reason.
    #[schemars(length(min = 1, max = 1024))]
    pub reason: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// The condition's type (e.g. `MetricsAvailable`).
    #[serde(rename = "type")]
    #[schemars(length(max = 316))]
    pub type_: String,
}

/// Whether the desired allocation was applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Actuation {
    /// Applied to the Deployment.
    pub applied: bool,
}

/// The allocation the optimizer wants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesiredOptimizedAlloc {
    /// Accelerator name.
    #[schemars(length(min = 2))]
    pub accelerator: String,
    /// When the optimizer last ran (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub last_run_time: Option<String>,
    /// Replicas.
    #[schemars(range(min = 0))]
    pub num_replicas: i32,
}

/// Schema v0.4 (`wva-incubation-2025-10`): perf parameters in the object.
pub mod v04 {
    use super::{Actuation, Condition, DesiredOptimizedAlloc};
    use kube::CustomResource;
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    /// What a variant serves and how fast it is on each accelerator.
    #[derive(
        CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema,
    )]
    #[kube(
        group = "llmd.ai",
        version = "v1alpha1",
        kind = "VariantAutoscaling",
        namespaced,
        status = "VariantAutoscalingStatus",
        shortname = "va",
        printcolumn = r#"{"name":"Model","type":"string","jsonPath":".spec.modelID"}"#,
        printcolumn = r#"{"name":"Accelerator","type":"string","jsonPath":".status.currentAlloc.accelerator"}"#,
        printcolumn = r#"{"name":"CurrentReplicas","type":"integer","jsonPath":".status.currentAlloc.numReplicas"}"#,
        printcolumn = r#"{"name":"Optimized","type":"string","jsonPath":".status.desiredOptimizedAlloc.numReplicas"}"#,
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
    )]
    pub struct VariantAutoscalingSpec {
        /// The model (OpenAI API name).
        #[serde(rename = "modelID")]
        #[schemars(length(min = 1))]
        pub model_id: String,
        /// Where the service class's SLOs are.
        #[serde(rename = "sloClassRef")]
        pub slo_class_ref: SloClassRef,
        /// The variant's performance on each accelerator.
        #[serde(rename = "modelProfile")]
        pub model_profile: ModelProfile,
    }

    /// A key of the `service-classes-config` ConfigMap.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    pub struct SloClassRef {
        /// The service class.
        #[schemars(length(min = 1))]
        pub name: String,
        /// The model's entry in it.
        #[schemars(length(min = 1))]
        pub key: String,
    }

    /// Per-accelerator profiles.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    pub struct ModelProfile {
        /// One entry per accelerator the variant may run on.
        #[schemars(length(min = 1))]
        pub accelerators: Vec<AcceleratorProfile>,
    }

    /// The variant on one accelerator.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct AcceleratorProfile {
        /// Accelerator name.
        #[schemars(length(min = 1))]
        pub acc: String,
        /// Accelerators per replica.
        #[schemars(range(min = 1))]
        pub acc_count: i32,
        /// Max batch (vLLM `--max-num-seqs`).
        #[schemars(range(min = 1))]
        pub max_batch_size: i32,
        /// Perf parameters, as quoted numbers.
        pub perf_parms: PerfParms,
    }

    /// Decode and prefill parameters, quoted numbers keyed by name.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct PerfParms {
        /// `alpha`, `beta` (and, for wva-v2/v3 profiles, `gamma`).
        #[schemars(extend("minProperties" = 1))]
        pub decode_parms: BTreeMap<String, String>,
        /// `gamma`, `delta` (wva-v1), or the perf model of a wva-v2/v3 profile.
        #[schemars(extend("minProperties" = 1))]
        pub prefill_parms: BTreeMap<String, String>,
    }

    /// What the controller observed and decided.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct VariantAutoscalingStatus {
        /// Whether the decision was applied.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub actuation: Option<Actuation>,
        /// Conditions.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub conditions: Vec<Condition>,
        /// The running allocation, as last measured.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub current_alloc: Option<CurrentAlloc>,
        /// The allocation the optimizer wants.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub desired_optimized_alloc: Option<DesiredOptimizedAlloc>,
    }

    /// The running allocation and its measured load (quoted numbers).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct CurrentAlloc {
        /// Accelerator.
        #[schemars(length(min = 1))]
        pub accelerator: String,
        /// Mean ITL, ms.
        #[schemars(regex(pattern = r"^\d+(\.\d+)?$"))]
        pub itl_average: String,
        /// Measured load.
        pub load: Load,
        /// Max batch.
        #[schemars(range(min = 0))]
        pub max_batch: i32,
        /// Replicas.
        #[schemars(range(min = 0))]
        pub num_replicas: i32,
        /// Mean TTFT, ms.
        #[schemars(regex(pattern = r"^\d+(\.\d+)?$"))]
        pub ttft_average: String,
        /// Cost, cents per hour.
        #[schemars(regex(pattern = r"^\d+(\.\d+)?$"))]
        pub variant_cost: String,
    }

    /// A measured load (quoted numbers).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct Load {
        /// Requests per minute.
        pub arrival_rate: String,
        /// Mean prompt tokens.
        pub avg_input_tokens: String,
        /// Mean output tokens.
        pub avg_output_tokens: String,
    }
}

/// Schema v0.5 (`wva-llm-d-2026-02`): a scale target and a cost; no perf parameters.
pub mod v05 {
    use super::{Actuation, Condition, DesiredOptimizedAlloc};
    use kube::CustomResource;
    use serde::{Deserialize, Serialize};

    /// What a variant serves, what it scales, and what a replica costs.
    #[derive(
        CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema,
    )]
    #[kube(
        group = "llmd.ai",
        version = "v1alpha1",
        kind = "VariantAutoscaling",
        namespaced,
        status = "VariantAutoscalingStatus",
        shortname = "va",
        printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.scaleTargetRef.name"}"#,
        printcolumn = r#"{"name":"Model","type":"string","jsonPath":".spec.modelID"}"#,
        printcolumn = r#"{"name":"Optimized","type":"string","jsonPath":".status.desiredOptimizedAlloc.numReplicas"}"#,
        printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
    )]
    pub struct VariantAutoscalingSpec {
        /// The model (OpenAI API name).
        #[serde(rename = "modelID")]
        #[schemars(length(min = 1))]
        pub model_id: String,
        /// The Deployment to scale.
        #[serde(rename = "scaleTargetRef")]
        pub scale_target_ref: ScaleTargetRef,
        /// Cost of one replica (quoted number; upstream's default is 10.0).
        #[serde(
            rename = "variantCost",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        #[schemars(regex(pattern = r"^\d+(\.\d+)?$"))]
        pub variant_cost: Option<String>,
    }

    /// The scalable resource, as an HPA names it.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct ScaleTargetRef {
        /// API version (`apps/v1`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub api_version: Option<String>,
        /// Kind (`Deployment`).
        pub kind: String,
        /// Name.
        pub name: String,
    }

    /// What the controller decided.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct VariantAutoscalingStatus {
        /// Whether the decision was applied.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub actuation: Option<Actuation>,
        /// Conditions.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub conditions: Vec<Condition>,
        /// The allocation the optimizer wants.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub desired_optimized_alloc: Option<DesiredOptimizedAlloc>,
    }
}
