//! Per-request serving benchmark logs (llm-d-benchmark / LMBench CSV): each request's decode
//! span (first to last token) is an observation. The logs carry no batch sizes, so the work of
//! a span is reconstructed from the other requests' timelines: every request decodes its
//! tokens evenly between its first token (launch + TTFT) and its finish, and prefills its
//! prompt in the iteration that ends at its first token. Over request `i`'s span, the engine
//! then processed the decode tokens of every request overlapping it, the prompts of those
//! whose first token fell inside it, and read their contexts; the span lasted
//! `output tokens - 1` iterations. A log of requests spread over `replicas` replicas counts each
//! other request as sharing this one's replica with probability `1 / replicas`.

use super::super::{Kind, Observation, Work};
use crate::estimate::EstimateError;
use crate::trace::{Format, Reader};
use std::path::Path;

struct Span {
    start_s: f64,
    end_s: f64,
    prompt: f64,
    decode_tokens: f64,
    line: usize,
}

/// Reads one LMBench file: the observations, and how many requests carry no decode span
/// (failed, one output token, or no time between first and last token) and are left out.
pub fn read(path: &Path, replicas: u32) -> Result<(Vec<Observation>, usize), EstimateError> {
    let others_share = 1.0 / f64::from(replicas.max(1));
    let reader = Reader::open(path, Some(Format::Lmbench), false)
        .map_err(|e| e.to_string())?
        .keep_failed(true);
    let mut spans = Vec::new();
    for (i, r) in reader.enumerate() {
        let r = r.map_err(|e| e.to_string())?;
        let line = i + 2;
        let (Some(ttft), Some(e2e)) = (r.ttft_s, r.e2e_s) else {
            return Err(format!(
                "{}:{line}: ttft and generation_time are needed to fit",
                path.display()
            )
            .into());
        };
        // (The reader refuses negative times, with their line.)
        spans.push(Span {
            start_s: r.arrival_s + ttft,
            end_s: r.arrival_s + e2e,
            prompt: f64::from(r.prompt_tokens),
            decode_tokens: f64::from(r.output_tokens.saturating_sub(1)),
            line,
        });
    }
    spans.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    // Every span overlapping [start, end) starts after start - longest and before end.
    let longest = spans
        .iter()
        .map(|s| s.end_s - s.start_s)
        .fold(0.0, f64::max);
    let mut out = Vec::new();
    let mut dropped = 0;
    for s in &spans {
        let span = s.end_s - s.start_s;
        if s.decode_tokens < 1.0 || span <= 0.0 {
            dropped += 1;
            continue;
        }
        let mut w = Work {
            iterations: s.decode_tokens,
            ..Work::default()
        };
        let from = spans.partition_point(|o| o.start_s < s.start_s - longest);
        let to = spans.partition_point(|o| o.start_s < s.end_s);
        for o in &spans[from..to] {
            // Spread over several replicas, another request shares this one's replica with
            // probability 1 / replicas.
            let k = if std::ptr::eq(o, s) {
                1.0
            } else {
                others_share
            };
            // Its prefill, in the iteration ending at its first token.
            if o.start_s > s.start_s && o.start_s <= s.end_s {
                w.prefill_iterations += k;
                w.tokens += k * o.prompt;
                w.prefill_tokens += k * o.prompt;
                w.kv_tokens += k * o.prompt;
                w.running += k;
            }
            let (a, b) = (o.start_s.max(s.start_s), o.end_s.min(s.end_s));
            let length = o.end_s - o.start_s;
            if b <= a || length <= 0.0 {
                continue;
            }
            let share = (b - a) / length;
            let tokens = k * o.decode_tokens * share;
            // Mean context over the overlap: the prompt, the first token, and the tokens
            // generated up to the overlap's midpoint.
            let generated = o.decode_tokens * ((a + b) / 2.0 - o.start_s) / length;
            w.tokens += tokens;
            w.kv_tokens += tokens * (o.prompt + 1.0 + generated);
            w.running += tokens;
        }
        out.push(Observation {
            work: w,
            time_ms: span * 1000.0,
            kind: Kind::DecodeSpan,
            batch: w.running / w.iterations,
            origin: format!("{}:{}", path.display(), s.line),
            file: 0,
            per_unit: s.decode_tokens,
        });
    }
    Ok((out, dropped))
}
