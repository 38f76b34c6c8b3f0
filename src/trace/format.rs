//! The trace formats `wva` reads and writes, and how each is recognised from its first line.

use serde::Serialize;
use std::fmt;

/// A trace format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `wva`'s own CSV: `arrival_s,prompt_tokens,output_tokens[,model]`.
    Canonical,
    /// Azure LLM inference trace 2023: `TIMESTAMP,ContextTokens,GeneratedTokens`.
    Azure,
    /// Mooncake JSONL: `timestamp` (ms), `input_length`, `output_length`, `hash_ids`.
    Mooncake,
    /// BurstGPT CSV: `Timestamp, Model, Request tokens, Response tokens, Total tokens, Log Type`.
    Burstgpt,
    /// llm-d-benchmark / LMBench per-request CSV: `prompt_tokens, generation_tokens, ttft,
    /// generation_time, launch_time, finish_time`.
    Lmbench,
    /// Vidur's processed trace CSV: `arrived_at,num_prefill_tokens,num_decode_tokens`.
    Vidur,
    /// LLMServingSim JSONL: workload files (`input_toks, output_toks, arrival_time_ns`) and
    /// measured runs (`input_toks, output_toks, arrival_time, queued_ts, first_token_ts,
    /// last_token_ts`).
    Llmservingsim,
}

impl Format {
    /// Every format, in documentation order.
    pub const ALL: [Format; 7] = [
        Format::Canonical,
        Format::Azure,
        Format::Mooncake,
        Format::Burstgpt,
        Format::Lmbench,
        Format::Vidur,
        Format::Llmservingsim,
    ];

    /// The formats' names, comma-separated.
    pub fn names() -> String {
        Format::ALL
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Canonical => "canonical",
            Format::Azure => "azure",
            Format::Mooncake => "mooncake",
            Format::Burstgpt => "burstgpt",
            Format::Lmbench => "lmbench",
            Format::Vidur => "vidur",
            Format::Llmservingsim => "llmservingsim",
        }
    }

    /// Whether records are JSON lines (else CSV with a header).
    pub fn is_jsonl(self) -> bool {
        matches!(self, Format::Mooncake | Format::Llmservingsim)
    }

    /// Recognises a format from a file's first line (a CSV header or a JSON object).
    pub fn detect(first_line: &str) -> Option<Format> {
        let line = first_line.trim_start_matches('\u{feff}').trim();
        if line.starts_with('{') {
            let has = |key: &str| line.contains(&format!("\"{key}\""));
            return if has("input_length") && has("timestamp") {
                Some(Format::Mooncake)
            } else if has("input_toks") && (has("arrival_time_ns") || has("arrival_time")) {
                Some(Format::Llmservingsim)
            } else {
                None
            };
        }
        let columns: Vec<String> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
            .collect();
        let has = |name: &str| columns.iter().any(|c| c == name);
        if has("timestamp") && has("contexttokens") && has("generatedtokens") {
            Some(Format::Azure)
        } else if has("timestamp") && has("request tokens") && has("response tokens") {
            Some(Format::Burstgpt)
        } else if has("prompt_tokens") && has("generation_tokens") && has("launch_time") {
            Some(Format::Lmbench)
        } else if has("arrived_at") && has("num_prefill_tokens") && has("num_decode_tokens") {
            Some(Format::Vidur)
        } else if has("arrival_s") && has("prompt_tokens") && has("output_tokens") {
            Some(Format::Canonical)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_is_recognised_from_its_first_line() {
        for (line, format) in [
            ("arrival_s,prompt_tokens,output_tokens", Format::Canonical),
            (
                "arrival_s,prompt_tokens,output_tokens,model",
                Format::Canonical,
            ),
            ("TIMESTAMP,ContextTokens,GeneratedTokens", Format::Azure),
            (
                r#"{"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0]}"#,
                Format::Mooncake,
            ),
            (
                "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type",
                Format::Burstgpt,
            ),
            (
                "prompt_tokens,generation_tokens,ttft,generation_time,launch_time,finish_time",
                Format::Lmbench,
            ),
            (
                "arrived_at,num_prefill_tokens,num_decode_tokens",
                Format::Vidur,
            ),
            (
                r#"{"input_toks": 2358, "output_toks": 531, "arrival_time_ns": 46926808}"#,
                Format::Llmservingsim,
            ),
            (
                r#"{"request_id": "bench-0", "input_toks": 2358, "output_toks": 531, "arrival_time": 1787267980.08}"#,
                Format::Llmservingsim,
            ),
        ] {
            assert_eq!(Format::detect(line), Some(format), "{line}");
        }
        assert_eq!(Format::detect("a,b,c"), None);
        assert_eq!(Format::detect(r#"{"x": 1}"#), None);
    }
}
