//! Markdown tables and number formats for the validation report.

/// A Markdown table.
#[derive(Clone, Debug)]
pub struct Table {
    headers: Vec<String>,
    align: Vec<char>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with `headers`; `align` has one letter per column: `l`eft, `r`ight, `c`entre.
    pub fn new(headers: &[&str], align: &str) -> Self {
        Table {
            headers: headers.iter().map(|h| (*h).to_string()).collect(),
            align: align.chars().collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The Markdown, ending with a newline.
    pub fn render(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut s = line(&self.headers);
        let rule: Vec<String> = (0..self.headers.len())
            .map(|i| match self.align.get(i) {
                Some('r') => "---:".to_string(),
                Some('c') => ":---:".to_string(),
                _ => "---".to_string(),
            })
            .collect();
        s.push_str(&line(&rule));
        for r in &self.rows {
            s.push_str(&line(r));
        }
        s
    }
}

/// A signed percentage with one decimal (`+2.1%`); `n/a` when undefined.
pub fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:+.1}%", x * 100.0)
    } else {
        "n/a".into()
    }
}

/// The finite error largest in absolute value (0 for none).
pub fn worst_finite(errors: &[f64]) -> f64 {
    errors
        .iter()
        .copied()
        .filter(|e| e.is_finite())
        .fold(0.0f64, |m, e| if e.abs() > m.abs() { e } else { m })
}

/// `measured / reference - 1`.
pub fn rel(value: f64, reference: f64) -> f64 {
    value / reference - 1.0
}

/// A latency in ms with precision that suits its size (`1.23`, `45.6`, `1234`); `inf` and
/// `n/a` for undefined values.
pub fn ms(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else if x.is_infinite() {
        "inf".into()
    } else if x.abs() < 10.0 {
        format!("{x:.2}")
    } else if x.abs() < 1000.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

/// Bold text.
pub fn bold(s: &str) -> String {
    format!("**{s}**")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_aligned_columns_and_formats_numbers() {
        let mut t = Table::new(&["a", "b"], "lr");
        t.row(vec!["x".into(), ms(1234.56)]);
        assert_eq!(t.render(), "| a | b |\n| --- | ---: |\n| x | 1235 |\n");
        assert_eq!(pct(0.0213), "+2.1%");
        assert_eq!(pct(-0.5), "-50.0%");
        assert_eq!(pct(f64::INFINITY), "n/a");
        assert_eq!(ms(4.256), "4.26");
        assert_eq!(ms(45.66), "45.7");
        assert_eq!(ms(f64::INFINITY), "inf");
    }
}
