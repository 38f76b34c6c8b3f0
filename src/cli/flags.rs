//! Request fields as the command line names them: the flag of each library [`Field`], and
//! error messages written with flags where the library wrote field names.

use crate::error::{Error, Field, RequestError};
use std::borrow::Cow;

/// The flag (with its value's name where a message needs one) that sets `field`: `--` and
/// the field's name with dashes, but for the fields below.
pub(super) fn flag(field: Field) -> Cow<'static, str> {
    match field.0 {
        "accelerators" => "--accelerator".into(),
        "end_s" => "--end".into(),
        "holdout_share" => "--holdout".into(),
        "mixing" => "--allow-mixed".into(),
        "names" => "--name".into(),
        "rate_rps" => "--rate-rps (or --rate-rpm)".into(),
        "server_dry_run" => "--dry-run".into(),
        "start_s" => "--start".into(),
        "step_s" => "--step".into(),
        name => format!("--{}", name.replace('_', "-")).into(),
    }
}

/// `err` as `{:#}` shows it (each cause after a colon), with the fields of a
/// [`RequestError`] named by their flags.
pub(super) fn message(err: &anyhow::Error) -> String {
    err.chain()
        .map(|cause| {
            let request = cause
                .downcast_ref::<Error>()
                .and_then(Error::request_error)
                .or_else(|| cause.downcast_ref::<RequestError>().cloned());
            match request {
                Some(r) => r.render(&flag),
                None => cause.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::request_error;
    use clap::CommandFactory;
    use std::collections::BTreeSet;

    /// Every long flag of every subcommand.
    fn all_flags() -> BTreeSet<String> {
        fn walk(cmd: &clap::Command, out: &mut BTreeSet<String>) {
            for a in cmd.get_arguments() {
                if let Some(long) = a.get_long() {
                    out.insert(format!("--{long}"));
                }
            }
            cmd.get_subcommands().for_each(|c| walk(c, out));
        }
        let mut out = BTreeSet::new();
        walk(&super::super::Cli::command(), &mut out);
        out
    }

    /// The names of the `Field("...")`s written in the library's source.
    fn fields_in_source() -> BTreeSet<String> {
        fn walk(dir: &std::path::Path, out: &mut BTreeSet<String>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let path = e.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for piece in text.split("Field(\"").skip(1) {
                        let name = piece.split('"').next().unwrap();
                        if name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                            out.insert(name.to_string());
                        }
                    }
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut out,
        );
        out
    }

    #[test]
    fn every_field_a_message_names_is_a_flag() {
        let flags = all_flags();
        let fields = fields_in_source();
        assert!(fields.len() > 30, "{fields:?}");
        for field in fields {
            let name: &'static str = Box::leak(field.into_boxed_str());
            let rendered = flag(Field(name));
            let first = rendered.split(' ').next().unwrap();
            assert!(
                flags.contains(first),
                "Field(\"{name}\") renders as {rendered}: no such flag"
            );
        }
    }

    #[test]
    fn a_request_error_names_flags_under_its_context() {
        let e = request_error!(Field("max_replicas"), " is 0");
        let err = anyhow::Error::from(Error::from(e)).context("replay");
        assert_eq!(message(&err), "replay: --max-replicas is 0");
        let plain = anyhow::Error::from(Error::Usage("no".into())).context("plan");
        assert_eq!(message(&plain), format!("{plain:#}"));
    }
}
