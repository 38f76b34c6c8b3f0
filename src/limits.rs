//! How large an input may be: one policy for every flag and file field, written once.
//!
//! Each count has a largest accepted value, far beyond any real deployment and small enough
//! that what `wva` allocates for it stays bounded (so an absurd value is a clear usage error,
//! exit 2, instead of an allocation abort or an hour of work). Flags and YAML fields share the
//! bounds. Files read whole (YAML and JSON documents) have a size cap; files streamed record by
//! record (traces, benchmark CSVs) have a line-length cap; YAML and JSON have a nesting cap.
//! docs/cli.md lists them for users.

use std::io::{self, Read};
use std::path::Path;

/// Most replicas given for one workload or fleet (`--replicas`, `min_replicas`, `current`,
/// replay's `--max-replicas`), and most a simulation runs from a plan: every replica is a
/// simulated engine. (Plans may size beyond it; `wva apply`'s scalers take any `int32`.)
pub const MAX_REPLICAS: u32 = 10_000;

/// Largest max batch (`max_batch`, `--max-num-seqs`, `--max-batch`): vLLM's own defaults are
/// 256-1024.
pub const MAX_BATCH: u32 = 65_536;

/// Largest KV block, tokens (`--block-size`; vLLM's are 8 to 128).
pub const MAX_BLOCK_SIZE: u32 = 1024;

/// Largest queue allowance per replica (`max_queue`, `--max-queue`).
pub const MAX_QUEUE: u32 = 1_000_000;

/// Most requests one run simulates or synthesises (`--requests`, `--max-requests`, a trace's
/// `rate x duration`): at a few tens of bytes of state per request, a few GB at most.
pub const MAX_REQUESTS: u64 = 50_000_000;

/// Most replications of a simulation (`--replications`).
pub const MAX_REPLICATIONS: u32 = 1_000;

/// Kubernetes' integer fields (`replicas`, `maxReplicas`, `minReplicas`) are `int32`.
pub const K8S_INT32_MAX: u32 = i32::MAX as u32;

/// Largest coefficient of variation of the iteration-time noise (`--noise-cv`): 10 already
/// makes one iteration in a hundred take 5x the mean.
pub const MAX_NOISE_CV: f64 = 10.0;

/// Range of `--time-scale` (arrival times multiplied by it).
pub const TIME_SCALE_RANGE: (f64, f64) = (1e-6, 1e6);

/// Largest arrival rate, requests/s, a workload or a flag may give (a million requests per
/// second is three orders of magnitude beyond the largest public serving traces).
pub const MAX_RATE_RPS: f64 = 1e6;

/// Largest perf-model coefficient (alpha, beta, gamma, delta: ms, or ms per token or per
/// request): a million ms per iteration, or per token of an iteration, is beyond any hardware.
pub const MAX_PERF_COEFFICIENT: f64 = 1e6;

/// Largest YAML or JSON document read whole (scenarios, profiles, catalogs, cluster dumps,
/// plans, benchmark results).
pub const MAX_DOCUMENT_BYTES: u64 = 64 << 20;

/// Longest line of a file read line by line (traces, benchmark CSVs, JSON lines).
pub const MAX_LINE_BYTES: u64 = 64 << 20;

/// Deepest nesting of brackets or block collections in a YAML or JSON document.
pub const MAX_NESTING: usize = 128;

/// Longest piece of an input quoted back in an error message, characters.
pub const MAX_QUOTED_CHARS: usize = 40;

/// `value` if it is at most `max`, else the message users see after the flag or field name:
/// "out of range: N (max M)".
pub fn at_most<T: PartialOrd + std::fmt::Display>(value: T, max: T) -> Result<T, String> {
    if value <= max {
        Ok(value)
    } else {
        Err(format!("out of range: {value} (max {max})"))
    }
}

/// The first `chars` characters of `text`, or `None` when it has no more than that.
pub fn prefix(text: &str, chars: usize) -> Option<&str> {
    text.char_indices().nth(chars).map(|(cut, _)| &text[..cut])
}

/// `text` as it is quoted back in messages: whole when short, else its first
/// [`MAX_QUOTED_CHARS`] characters and its length.
pub fn quote(text: &str) -> String {
    match prefix(text, MAX_QUOTED_CHARS) {
        None => format!("`{text}`"),
        Some(head) => format!("`{head}...` ({} bytes)", text.len()),
    }
}

/// Most names [`list`] shows.
pub const MAX_LISTED: usize = 20;

/// Names (a header's columns) as a message lists them: each cut to [`MAX_QUOTED_CHARS`], at
/// most [`MAX_LISTED`] of them, then how many more there are.
pub fn list<S: AsRef<str>>(names: &[S]) -> String {
    let cut = |n: &S| {
        let n = n.as_ref();
        prefix(n, MAX_QUOTED_CHARS).map_or_else(|| n.to_string(), |head| format!("{head}..."))
    };
    let mut shown: Vec<String> = names.iter().take(MAX_LISTED).map(cut).collect();
    if names.len() > MAX_LISTED {
        shown.push(format!("and {} more", names.len() - MAX_LISTED));
    }
    shown.join(", ")
}

/// Longest message `wva` prints for one error, characters (a list of names is cut there).
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// Longest quoted piece [`shorten`] leaves whole, characters (room for a long path).
pub const MAX_QUOTED_IN_MESSAGE: usize = 200;

/// `message` with every quoted piece (between `"` or backquotes) longer than
/// [`MAX_QUOTED_IN_MESSAGE`] cut to [`MAX_QUOTED_CHARS`], and the whole cut at
/// [`MAX_MESSAGE_CHARS`]: parsers quote the offending input whole, and an input can be
/// megabytes.
pub fn shorten(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS + 64));
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        let body_start = open + 1;
        let Some(close) = rest[body_start..].find(quote).map(|c| body_start + c) else {
            break;
        };
        let body = &rest[body_start..close];
        out.push_str(&rest[..body_start]);
        match prefix(body, MAX_QUOTED_CHARS) {
            Some(head) if prefix(body, MAX_QUOTED_IN_MESSAGE).is_some() => {
                out.push_str(head);
                out.push_str(&format!("...({} bytes)", body.len()));
            }
            _ => out.push_str(body),
        }
        out.push(quote);
        rest = &rest[close + 1..];
        if out.len() > MAX_MESSAGE_CHARS {
            break;
        }
    }
    out.push_str(rest);
    match prefix(&out, MAX_MESSAGE_CHARS) {
        None => out,
        Some(head) => format!("{head}... ({} bytes in all)", out.len()),
    }
}

/// Reads a whole document, refusing one larger than [`MAX_DOCUMENT_BYTES`] (a device such as
/// `/dev/zero` or a huge file is refused after reading just past the cap, not loaded).
pub fn read_document(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        // `-`: standard input (`... | wva plan -`); files it names are relative to the
        // current folder.
        io::stdin()
            .lock()
            .take(MAX_DOCUMENT_BYTES + 1)
            .read_to_end(&mut bytes)?;
    } else {
        let file = std::fs::File::open(path)?;
        if file.metadata()?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::IsADirectory, "is a folder"));
        }
        file.take(MAX_DOCUMENT_BYTES + 1).read_to_end(&mut bytes)?;
    }
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "larger than {} MiB, the most a document may be",
                MAX_DOCUMENT_BYTES >> 20
            ),
        ));
    }
    Ok(bytes)
}

/// [`read_document`] as UTF-8 text.
pub fn read_document_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read_document(path)?).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// A reader that fails with [`io::ErrorKind::InvalidData`] once a line runs past
/// [`MAX_LINE_BYTES`] (so a CSV reader never buffers a whole file without newlines).
pub struct LineCapped<R> {
    inner: R,
    since_newline: u64,
    line: u64,
    max: u64,
}

impl<R> LineCapped<R> {
    /// Caps the lines of `inner` at [`MAX_LINE_BYTES`].
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, MAX_LINE_BYTES)
    }

    /// Caps the lines of `inner` at `max` bytes.
    pub fn with_max(inner: R, max: u64) -> Self {
        LineCapped {
            inner,
            since_newline: 0,
            line: 1,
            max,
        }
    }
}

impl<R: Read> Read for LineCapped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut segments = buf[..n].split(|&b| b == b'\n');
        // The first piece continues the current line; each later one starts a new line.
        let mut length = self.since_newline + segments.next().map_or(0, <[u8]>::len) as u64;
        for segment in segments {
            if length > self.max {
                break;
            }
            self.line += 1;
            length = segment.len() as u64;
        }
        if length > self.max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {} is longer than {} bytes", self.line, self.max),
            ));
        }
        self.since_newline = length;
        Ok(n)
    }
}

/// The first place where brackets (`[`, `{`) or YAML block collections nest deeper than
/// [`MAX_NESTING`], as (line, column), both from 1; `None` when the document stays within it.
///
/// A conservative scan, not a parser: quoted strings and comments are skipped, flow brackets
/// counted, and block nesting read from indentation and `- ` indicators. It runs in one pass
/// before the parser, whose time grows with the square of the depth.
pub fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut flow = 0usize;
    for (i, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        let mut col = 0;
        // Block nesting: indentation plus `- ` indicators at the start of the line (outside
        // flow collections). Each level takes at least one column, so deep nesting is wide.
        if flow == 0 {
            let mut depth = 0;
            while col < bytes.len() {
                match bytes[col] {
                    b' ' => col += 1,
                    b'-' if bytes.get(col + 1).is_none_or(|b| *b == b' ') => {
                        depth += 1;
                        col += 1;
                    }
                    _ => break,
                }
            }
            if depth > MAX_NESTING || col / 2 > MAX_NESTING {
                return Some((i + 1, col.min(bytes.len()).max(1)));
            }
        }
        let mut quote: Option<u8> = None;
        while col < bytes.len() {
            let b = bytes[col];
            match quote {
                Some(q) => {
                    if b == b'\\' && q == b'"' {
                        col += 1;
                    } else if b == q {
                        quote = None;
                    }
                }
                None => match b {
                    b'"' | b'\'' if col == 0 || b" \t[{,:".contains(&bytes[col - 1]) => {
                        quote = Some(b)
                    }
                    b'#' if col == 0 || bytes[col - 1] == b' ' || bytes[col - 1] == b'\t' => {
                        break;
                    }
                    b'[' | b'{' => {
                        flow += 1;
                        if flow > MAX_NESTING {
                            return Some((i + 1, col + 1));
                        }
                    }
                    b']' | b'}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            col += 1;
        }
    }
    None
}

/// A run that would draw more than [`MAX_REQUESTS`] requests.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error(
    "the load would draw about {expected:.3e} requests; at most {MAX_REQUESTS} per run (docs/cli.md, Limits)"
)]
pub struct TooManyDraws {
    /// The requests it would draw (rate x duration).
    pub expected: f64,
}

/// Refuses a run that would draw more than [`MAX_REQUESTS`] requests (`expected`: rate x
/// duration).
pub fn check_drawn(expected: f64) -> Result<(), TooManyDraws> {
    if expected <= MAX_REQUESTS as f64 {
        Ok(())
    } else {
        Err(TooManyDraws { expected })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_found_in_flow_and_block_collections() {
        let deep_flow = format!("workloads: {}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(too_deep(&deep_flow), Some((1, 11 + MAX_NESTING + 1)));
        let deep_block = format!("a: {}1\n", "- ".repeat(200));
        // `a:` is followed by a flow-less block: the dashes are on the same line after a key,
        // which YAML reads as a plain scalar, so it is not nesting.
        assert_eq!(too_deep(&deep_block), None);
        let deep_dashes = format!("{}1\n", "- ".repeat(200));
        assert!(too_deep(&deep_dashes).is_some());
        let deep_indent = (0..200)
            .map(|d| format!("{}k{d}:\n", "  ".repeat(d)))
            .collect::<String>();
        assert_eq!(
            too_deep(&deep_indent).map(|(l, _)| l),
            Some(MAX_NESTING + 2)
        );
        // Brackets in quotes and comments do not count; shallow documents pass.
        let quoted = format!(
            "a: \"{}\"\nb: '{}' # {}\n",
            "[".repeat(300),
            "{".repeat(300),
            "[".repeat(300)
        );
        assert_eq!(too_deep(&quoted), None);
        assert_eq!(too_deep("a: [1, [2, {b: [3]}]]\n- - - x\n"), None);
    }

    #[test]
    fn long_lines_are_refused_with_their_number() {
        let text = format!("a\nbb\n{}\n", "c".repeat(50));
        let mut out = Vec::new();
        let err = LineCapped::with_max(text.as_bytes(), 10)
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(
            err.to_string().contains("line 3 is longer than 10 bytes"),
            "{err}"
        );
        let mut out = Vec::new();
        LineCapped::with_max("a\nbb\n".as_bytes(), 10)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"a\nbb\n");
    }

    #[test]
    fn quotes_are_short() {
        assert_eq!(quote("abc"), "`abc`");
        let long = "9".repeat(1000);
        let q = quote(&long);
        assert!(q.len() < 80 && q.ends_with("(1000 bytes)"), "{q}");
        assert_eq!(
            quote(&"é".repeat(50)).chars().filter(|c| *c == 'é').count(),
            40
        );
        assert_eq!(at_most(5u32, 10), Ok(5));
        let names: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        assert!(list(&names).ends_with("c19, and 10 more"));
        assert_eq!(list(&["x".repeat(100)]), format!("{}...", "x".repeat(40)));
        let parser = format!(
            "invalid type: string \"{}\", expected a number",
            "9".repeat(5000)
        );
        let short = shorten(&parser);
        assert!(
            short.len() < 120 && short.ends_with("(5000 bytes)\", expected a number"),
            "{short}"
        );
        assert_eq!(shorten("a `b` and 'c'"), "a `b` and 'c'");
        let path = format!("cannot read `{}`", "/long".repeat(30));
        assert_eq!(shorten(&path), path);
        assert!(shorten(&"x, ".repeat(10_000)).len() < MAX_MESSAGE_CHARS + 40);
        assert_eq!(at_most(11u32, 10), Err("out of range: 11 (max 10)".into()));
    }

    #[test]
    fn documents_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_document(dir.path()).unwrap_err().kind(),
            io::ErrorKind::IsADirectory
        );
        let f = dir.path().join("a.yaml");
        std::fs::write(&f, "a: 1\n").unwrap();
        assert_eq!(read_document_text(&f).unwrap(), "a: 1\n");
        #[cfg(unix)]
        assert_eq!(
            read_document(Path::new("/dev/zero")).unwrap_err().kind(),
            io::ErrorKind::FileTooLarge
        );
    }
}
