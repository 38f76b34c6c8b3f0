//! Any CSV of per-iteration measurements. Each row is one iteration (or `iterations` of the
//! same shape): `batch` sequences decoding, `context_tokens` of mean context each (or
//! `kv_tokens` read in all), `prefill_tokens` prefilled beside them, taking `time_ms`. Columns
//! with other names are mapped with `--columns batch=bs,time_ms=itl,...`.

use super::super::{Kind, Observation, Work};
use super::{Csv, cell};
use crate::error::{Field, request_error};
use crate::estimate::EstimateError;
use std::path::Path;
use std::str::FromStr;

/// The quantities a generic CSV can give, with their default column names.
const FIELDS: [&str; 6] = [
    "batch",
    "time_ms",
    "context_tokens",
    "kv_tokens",
    "prefill_tokens",
    "iterations",
];

/// Where each quantity is: `quantity=column` pairs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ColumnMap(pub Vec<(String, String)>);

impl FromStr for ColumnMap {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut pairs = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not quantity=column"))?;
            let k = k.trim().to_ascii_lowercase();
            if !FIELDS.contains(&k.as_str())
                && !crate::estimate::sweep::COLUMNS.contains(&k.as_str())
            {
                return Err(format!(
                    "unknown quantity `{k}`; known: {} (per-iteration CSV), {} (sweep)",
                    FIELDS.join(", "),
                    crate::estimate::sweep::COLUMNS.join(", ")
                ));
            }
            pairs.push((k, v.trim().to_ascii_lowercase()));
        }
        Ok(ColumnMap(pairs))
    }
}

impl ColumnMap {
    /// The column that holds `field` (its own name unless mapped).
    pub(crate) fn column_of(&self, field: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == field)
            .map_or_else(|| field.to_string(), |(_, v)| v.clone())
    }
}

/// Reads a generic CSV.
pub fn read(path: &Path, map: &ColumnMap) -> Result<Vec<Observation>, EstimateError> {
    let mut csv = Csv::open(path)?;
    let required = |csv: &Csv, field: &str| {
        csv.column(&map.column_of(field)).map_err(|e| {
            EstimateError::from(request_error!(
                format!("{e} (the `{field}` quantity; map columns with "),
                Field("columns"),
                format!(" {field}=NAME)")
            ))
        })
    };
    let optional = |csv: &Csv, field: &str| {
        let name = map.column_of(field);
        let explicit = map.0.iter().any(|(k, _)| k == field);
        match csv.header.iter().position(|h| *h == name) {
            Some(i) => Ok(Some(i)),
            None if explicit => csv.column(&name).map(Some),
            None => Ok(None),
        }
    };
    let batch = required(&csv, "batch")?;
    let time = required(&csv, "time_ms")?;
    let context = optional(&csv, "context_tokens")?;
    let kv = optional(&csv, "kv_tokens")?;
    let prefill = optional(&csv, "prefill_tokens")?;
    let iterations = optional(&csv, "iterations")?;
    let header = csv.header.clone();
    let p = csv.path.clone();
    let mut out = Vec::new();
    for row in csv.rows() {
        let (line, r) = row?;
        let v = |i: usize| cell(&p, line, &header, &r, i);
        let maybe = |i: Option<usize>| i.map(v).transpose();
        let b = v(batch)?;
        let pre = maybe(prefill)?.unwrap_or(0.0);
        let k = maybe(iterations)?.unwrap_or(1.0);
        let kv_read = match (maybe(kv)?, maybe(context)?) {
            (Some(kv), _) => kv,
            (None, Some(c)) => b * c + pre,
            (None, None) => pre,
        };
        let values = [b, pre, k, kv_read];
        if values.iter().any(|x| *x < 0.0) || k <= 0.0 || b + pre <= 0.0 {
            return Err(format!(
                "{p}:{line}: batch, prefill and KV tokens must be >= 0, iterations > 0, and a row must process something"
            ).into());
        }
        let one = Work {
            iterations: 1.0,
            prefill_iterations: f64::from(u8::from(pre > 0.0)),
            tokens: b + pre,
            prefill_tokens: pre,
            kv_tokens: kv_read,
            running: b + f64::from(u8::from(pre > 0.0)),
        };
        out.push(Observation {
            work: one.times(k),
            time_ms: v(time)?,
            kind: match (pre > 0.0, b > 0.0) {
                (true, true) => Kind::Mixed,
                (true, false) => Kind::Prefill,
                _ => Kind::Decode,
            },
            batch: b,
            origin: format!("{p}:{line}"),
            file: 0,
            per_unit: k,
        });
    }
    Ok(out)
}
