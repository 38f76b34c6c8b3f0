//! JSON Schemas of the files `wva` reads (scenario, profiles, accelerator catalog, service
//! classes), generated from the same types the readers use (`wva schema`), so an editor with a
//! YAML language server flags a bad field as it is typed; [`output_schema`] gives the schema of
//! a document `wva` writes (the plan's is [`crate::optimize::Plan::json_schema`]).
//!
//! The derived parts come from the serde structs of `spec::raw`; the values those read
//! with hand-written visitors (checked numbers, latency targets, token distributions, ...)
//! get their schema here, next to nothing else.

use super::numbers::{
    AtLeastOneF64, Name, NonNegativeF64, NonNegativeInt, PositiveF64, PositiveInt,
};
use super::raw::{
    AcceleratorsFile, ArrivalsDoc, Entry, InterconnectDoc, KvCapacityDoc, LatencyTargetDoc,
    PerfModelName, ProfilesFile, Refs, ScenarioDoc, ServiceClassesFile, TokensDoc,
};
use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings, json_schema};
use std::borrow::Cow;

/// The documents `wva schema` describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Document {
    /// A scenario (`wva plan SCENARIO`).
    Scenario,
    /// A profiles file (`profiles: [...]`).
    Profiles,
    /// An accelerator catalog (`accelerators: [...]`).
    Catalog,
    /// A file of service classes (`service_classes: [...]`).
    ServiceClasses,
}

/// The JSON Schema (draft 2020-12) of `document`.
pub fn json_schema(document: Document) -> serde_json::Value {
    let settings = SchemaSettings::draft2020_12();
    let (mut schema, title) = match document {
        Document::Scenario => (root::<ScenarioDoc>(settings), "wva scenario"),
        Document::Profiles => (root::<ProfilesFile>(settings), "wva profiles"),
        Document::Catalog => (
            root::<AcceleratorsFile>(settings),
            "wva accelerator catalog",
        ),
        Document::ServiceClasses => (root::<ServiceClassesFile>(settings), "wva service classes"),
    };
    schema.insert("title".into(), title.into());
    schema.to_value()
}

/// The JSON Schema (draft 2020-12) of a document `wva` writes as `T` serializes, titled `title`.
pub fn output_schema<T: JsonSchema>(title: &str) -> serde_json::Value {
    let mut schema = root::<T>(SchemaSettings::draft2020_12().for_serialize());
    schema.insert("title".into(), title.into());
    schema.to_value()
}

fn root<T: JsonSchema>(settings: SchemaSettings) -> Schema {
    settings.into_generator().into_root_schema_for::<T>()
}

/// A schema written in place (no `$defs` entry): the value types below are small.
macro_rules! inline_schema {
    ($type:ty, $name:literal, $schema:expr) => {
        impl JsonSchema for $type {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

inline_schema!(
    PositiveF64,
    "PositiveF64",
    json_schema!({"type": "number", "exclusiveMinimum": 0})
);
inline_schema!(
    NonNegativeF64,
    "NonNegativeF64",
    json_schema!({"type": "number", "minimum": 0})
);
inline_schema!(
    AtLeastOneF64,
    "AtLeastOneF64",
    json_schema!({"type": "number", "minimum": 1})
);
inline_schema!(
    PositiveInt,
    "PositiveInt",
    json_schema!({"type": "integer", "minimum": 1, "maximum": super::numbers::MAX_INT})
);
inline_schema!(
    NonNegativeInt,
    "NonNegativeInt",
    json_schema!({"type": "integer", "minimum": 0, "maximum": super::numbers::MAX_INT})
);
// YAML reads `4090` as a number; a name may be one.
inline_schema!(
    Name,
    "Name",
    json_schema!({"anyOf": [{"type": "string", "minLength": 1, "pattern": "^\\S(.*\\S)?$"}, {"type": "integer"}]})
);
inline_schema!(
    PerfModelName,
    "PerfModelName",
    json_schema!({
        "description": "The perf model: wva-v1, wva-v2, wva-v3 (linear models of iteration time) or tables (the profiler's tables)",
        "type": "string",
        "enum": ["wva-v1", "wva-v2", "wva-v3", "tables"]
    })
);
inline_schema!(
    KvCapacityDoc,
    "KvCapacity",
    json_schema!({
        "description": "KV-cache capacity per replica: tokens, or auto (from the model's shape and the GPU's memory)",
        "anyOf": [{"type": "integer", "minimum": 1}, {"const": "auto"}]
    })
);
inline_schema!(
    LatencyTargetDoc,
    "LatencyTarget",
    json_schema!({
        "description": "A latency target in ms: a number (the mean), or one of {mean: ms}, {p50: ms}, {p90: ms}, {p95: ms}, {p99: ms}",
        "anyOf": [
            {"type": "number", "exclusiveMinimum": 0},
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {
                    "mean": {"type": "number", "exclusiveMinimum": 0},
                    "p50": {"type": "number", "exclusiveMinimum": 0},
                    "p90": {"type": "number", "exclusiveMinimum": 0},
                    "p95": {"type": "number", "exclusiveMinimum": 0},
                    "p99": {"type": "number", "exclusiveMinimum": 0}
                },
                "additionalProperties": false
            }
        ]
    })
);
inline_schema!(
    ArrivalsDoc,
    "Arrivals",
    json_schema!({
        "description": "The arrival process: poisson, deterministic, or {process: gamma, cv: 2.0}",
        "anyOf": [
            {"enum": ["poisson", "deterministic"]},
            {
                "type": "object",
                "properties": {"process": {"enum": ["poisson", "deterministic"]}},
                "required": ["process"],
                "additionalProperties": false
            },
            {
                "type": "object",
                "properties": {
                    "process": {"const": "gamma"},
                    "cv": {"type": "number", "exclusiveMinimum": 0}
                },
                "required": ["process", "cv"],
                "additionalProperties": false
            }
        ]
    })
);

impl JsonSchema for InterconnectDoc {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Interconnect".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = crate::perf::comm::GENERATIONS
            .iter()
            .map(|g| g.name)
            .collect();
        json_schema!({
            "description": "The link between a replica's GPUs: a generation, or {bandwidth_gb_s, latency_us}",
            "anyOf": [
                {"enum": names},
                {
                    "type": "object",
                    "properties": {
                        "bandwidth_gb_s": {"type": "number", "exclusiveMinimum": 0},
                        "latency_us": {"type": "number", "minimum": 0}
                    },
                    "required": ["bandwidth_gb_s", "latency_us"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

impl<const MIN: u32> JsonSchema for TokensDoc<MIN> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Tokens{MIN}").into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let count = json_schema!({"type": "number", "minimum": MIN});
        json_schema!({
            "description": "Tokens per request: a number (every request the same), or {dist: fixed|exponential|lognormal|uniform, mean, cv, min, max}",
            "anyOf": [
                count,
                {
                    "type": "object",
                    "properties": {"dist": {"enum": ["fixed", "exponential"]}, "mean": count},
                    "required": ["mean"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": {
                        "dist": {"const": "lognormal"},
                        "mean": count,
                        "cv": {"type": "number", "exclusiveMinimum": 0}
                    },
                    "required": ["dist", "mean", "cv"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": {"dist": {"const": "uniform"}, "min": count, "max": count},
                    "required": ["dist", "min", "max"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

impl<T: JsonSchema> JsonSchema for Entry<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Entry_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let inline = generator.subschema_for::<T>();
        json_schema!({
            "anyOf": [
                {"type": "string", "minLength": 1, "description": "A file of such entries, relative to this file"},
                inline
            ]
        })
    }
}

impl<T: JsonSchema> JsonSchema for Refs<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        format!("Refs_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let entry = generator.subschema_for::<Entry<T>>();
        json_schema!({
            "anyOf": [
                {"type": "string", "minLength": 1, "description": "A file of such entries, relative to this file"},
                {"type": "array", "items": entry}
            ]
        })
    }
}
