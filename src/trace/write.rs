//! Writing traces in any of the formats `wva` reads, so the same requests can be fed to `wva`
//! and to other simulators. Arrival times are written from the trace's origin (0 s; for Azure,
//! from 2023-01-01 00:00:00).

use super::format::Format;
use super::time::date_time;
use super::{TraceError, TraceRecord};
use std::fmt::Write as _;

/// The Azure writer's origin: 2023-01-01 00:00:00 UTC, s since the epoch.
const AZURE_ORIGIN_S: i64 = 1_672_531_200;

/// `YYYY-MM-DD HH:MM:SS.fffffff` for `seconds` after the Azure origin.
fn azure_timestamp(seconds: f64) -> String {
    let ticks = (seconds * 1e7).round() as i64; // 100 ns, as the Azure traces
    let whole = AZURE_ORIGIN_S + ticks.div_euclid(10_000_000);
    let frac = ticks.rem_euclid(10_000_000);
    format!("{}.{frac:07}", date_time(whole, ' '))
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v}")).unwrap_or_default()
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// `records` in `format`; an error when an arrival cannot be written (negative, or beyond
/// `trace::transform::MAX_ARRIVAL_S`).
pub fn write(records: &[TraceRecord], format: Format) -> Result<String, TraceError> {
    if let Some(r) = records
        .iter()
        .find(|r| !(r.arrival_s >= 0.0 && r.arrival_s <= super::transform::MAX_ARRIVAL_S))
    {
        return Err(TraceError::Arrival(format!(
            "an arrival at {} s cannot be written: times must be from 0 to {:e} s",
            r.arrival_s,
            super::transform::MAX_ARRIVAL_S
        )));
    }
    let mut out = String::new();
    let any_model = records.iter().any(|r| r.model.is_some());
    let model = |r: &TraceRecord| csv_field(r.model.as_deref().unwrap_or(""));
    match format {
        Format::Canonical => {
            out.push_str(if any_model {
                "arrival_s,prompt_tokens,output_tokens,model\n"
            } else {
                "arrival_s,prompt_tokens,output_tokens\n"
            });
            for r in records {
                let _ = write!(
                    out,
                    "{:.6},{},{}",
                    r.arrival_s, r.prompt_tokens, r.output_tokens
                );
                if any_model {
                    let _ = write!(out, ",{}", model(r));
                }
                out.push('\n');
            }
        }
        Format::Azure => {
            out.push_str("TIMESTAMP,ContextTokens,GeneratedTokens\n");
            for r in records {
                let _ = writeln!(
                    out,
                    "{},{},{}",
                    azure_timestamp(r.arrival_s),
                    r.prompt_tokens,
                    r.output_tokens
                );
            }
        }
        Format::Mooncake => {
            for r in records {
                let _ = writeln!(
                    out,
                    "{{\"timestamp\": {}, \"input_length\": {}, \"output_length\": {}, \"hash_ids\": []}}",
                    (r.arrival_s * 1000.0).round() as i64,
                    r.prompt_tokens,
                    r.output_tokens
                );
            }
        }
        Format::Burstgpt => {
            out.push_str("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n");
            for r in records {
                let _ = writeln!(
                    out,
                    "{:.6},{},{},{},{},Conversation log",
                    r.arrival_s,
                    model(r),
                    r.prompt_tokens,
                    r.output_tokens,
                    u64::from(r.prompt_tokens) + u64::from(r.output_tokens)
                );
            }
        }
        Format::Lmbench => {
            out.push_str(
                "prompt_tokens,generation_tokens,ttft,generation_time,launch_time,finish_time\n",
            );
            for r in records {
                let generation = r.e2e_s.zip(r.ttft_s).map(|(e, t)| e - t);
                let _ = writeln!(
                    out,
                    "{},{},{},{},{:.6},{}",
                    r.prompt_tokens,
                    r.output_tokens,
                    opt(r.ttft_s),
                    opt(generation),
                    r.arrival_s,
                    opt(r.e2e_s.map(|e| r.arrival_s + e))
                );
            }
        }
        Format::Vidur => {
            out.push_str("arrived_at,num_prefill_tokens,num_decode_tokens\n");
            for r in records {
                let _ = writeln!(
                    out,
                    "{:.6},{},{}",
                    r.arrival_s, r.prompt_tokens, r.output_tokens
                );
            }
        }
        Format::Llmservingsim => {
            for r in records {
                let _ = writeln!(
                    out,
                    "{{\"input_toks\": {}, \"output_toks\": {}, \"arrival_time_ns\": {}}}",
                    r.prompt_tokens,
                    r.output_tokens,
                    (r.arrival_s * 1e9).round() as i64
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{Transforms, read_all};

    #[test]
    fn azure_timestamps_round_trip() {
        assert_eq!(azure_timestamp(0.0), "2023-01-01 00:00:00.0000000");
        assert_eq!(
            azure_timestamp(86_400.0 * 59.0 + 3.25),
            "2023-03-01 00:00:03.2500000"
        );
    }

    #[test]
    fn every_format_reads_back_what_it_wrote() {
        let records: Vec<TraceRecord> = (0..50u32)
            .map(|i| TraceRecord {
                arrival_s: f64::from(i) * 0.731,
                prompt_tokens: 10 + i * 37,
                output_tokens: 1 + i % 9,
                ..TraceRecord::default()
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        for format in Format::ALL {
            let path = dir.path().join(format!("t.{format}"));
            std::fs::write(&path, write(&records, format).unwrap()).unwrap();
            let back = read_all(&path, None, &Transforms::default(), false).unwrap();
            assert_eq!(back.len(), records.len(), "{format}");
            for (a, b) in records.iter().zip(&back) {
                assert!(
                    (a.arrival_s - b.arrival_s).abs() < 1e-3,
                    "{format}: {a:?} {b:?}"
                );
                assert_eq!(
                    (a.prompt_tokens, a.output_tokens),
                    (b.prompt_tokens, b.output_tokens),
                    "{format}"
                );
            }
        }
    }
}
