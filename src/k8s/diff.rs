//! A readable line diff for `wva apply --diff`: changed lines with `-`/`+` and one line of
//! context around them (Myers' diff, from the `similar` crate).

use similar::{ChangeTag, TextDiff};

/// The lines of `new` against `old`: `- ` removed, `+ ` added, `  ` context, `  ...` for lines
/// left out between changes; empty when equal.
pub fn line_diff(old: &str, new: &str) -> String {
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::new();
    for (i, group) in diff.grouped_ops(1).iter().enumerate() {
        // Lines left out before this group.
        let starts_at_top = group
            .first()
            .is_some_and(|op| op.old_range().start == 0 && op.new_range().start == 0);
        if i > 0 || !starts_at_top {
            out.push_str("  ...\n");
        }
        for op in group {
            for change in diff.iter_changes(op) {
                out.push_str(match change.tag() {
                    ChangeTag::Equal => "  ",
                    ChangeTag::Delete => "- ",
                    ChangeTag::Insert => "+ ",
                });
                out.push_str(change.value().trim_end_matches(['\n', '\r']));
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_diff_and_changes_show_with_context() {
        assert_eq!(line_diff("a\nb\n", "a\nb\n"), "");
        let d = line_diff("a\nb\nc\nd\ne\n", "a\nb\nX\nd\ne\n");
        assert_eq!(d, "  ...\n  b\n- c\n+ X\n  d\n");
        assert_eq!(line_diff("", "x\n"), "+ x\n");
        // Changes far apart: two groups, the lines between left out.
        let old = "1\n2\n3\n4\n5\n6\n7\n";
        let d = line_diff(old, "1\nA\n3\n4\n5\n6\nB\n");
        assert_eq!(d, "  1\n- 2\n+ A\n  3\n  ...\n  6\n- 7\n+ B\n");
        // A last line without a newline is still one line.
        assert_eq!(line_diff("a", "b"), "- a\n+ b\n");
    }
}
