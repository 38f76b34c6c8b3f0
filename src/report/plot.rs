//! Plots (plotters, with an embedded DejaVu font so PNGs render text without system fonts).
//! The format follows the file name: `.svg` writes SVG, anything else PNG.

use crate::sim::TimelineRow;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::Once;

static FONT: Once = Once::new();

/// Makes the embedded font the `sans-serif` family (once per process).
fn register_font() {
    FONT.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// An error while drawing or writing a plot.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw {path}: {message}")]
pub struct PlotError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn shade(color: usize, light: bool) -> RGBColor {
    let RGBColor(r, g, b) = COLORS[color % COLORS.len()];
    if light {
        let pale = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * 0.55) as u8;
        RGBColor(pale(r), pale(g), pale(b))
    } else {
        RGBColor(r, g, b)
    }
}

/// A named line of `(x, y)` points; lines of one color index share a hue, `light` ones a
/// paler shade of it.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Color index.
    pub color: usize,
    /// Paler shade.
    pub light: bool,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// One panel: a title, a y label, and its lines.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Title.
    pub title: String,
    /// Y-axis label.
    pub y_label: String,
    /// X-axis label of this panel (default: the shared one).
    pub x_label: Option<String>,
    /// Lines.
    pub series: Vec<Series>,
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    x_label: &str,
    panels: &[Panel],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((panels.len().max(1), 1));
    for (area, panel) in areas.iter().zip(panels) {
        let points = || {
            panel
                .series
                .iter()
                .flat_map(|s| s.points.iter())
                .filter(|(x, y)| x.is_finite() && y.is_finite())
        };
        let (x_max, y_max) =
            points().fold((1e-9f64, 1e-9f64), |(a, b), (x, y)| (a.max(*x), b.max(*y)));
        let x_min = points()
            .fold(f64::INFINITY, |a, (x, _)| a.min(*x))
            .min(x_max);
        // From zero, or below it when some values are negative (residuals).
        let y_min = points().fold(0.0f64, |a, (_, y)| a.min(*y));
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(x_min.min(0.0)..x_max, y_min * 1.1..y_max * 1.1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(panel.x_label.as_deref().unwrap_or(x_label))
            .y_desc(&panel.y_label)
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(|e| e.to_string())?;
        for s in &panel.series {
            let color = shade(s.color, s.light);
            let line: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        if !panel.series.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 12))
                .draw()
                .map_err(|e| e.to_string())?;
        }
    }
    root.present().map_err(|e| e.to_string())
}

/// A scatter of labelled points: one marker and label per point.
#[derive(Clone, Debug)]
pub struct Scatter {
    /// Title.
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// `(label, x, y)`.
    pub points: Vec<(String, f64, f64)>,
}

fn draw_scatter<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    plot: &Scatter,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let finite = || {
        plot.points
            .iter()
            .filter(|(_, x, y)| x.is_finite() && y.is_finite())
    };
    let x_max = finite().fold(1e-9f64, |a, (_, x, _)| a.max(*x));
    let y_max = finite().fold(1.0f64, |a, (_, _, y)| a.max(*y));
    let mut chart = ChartBuilder::on(&root)
        .caption(&plot.title, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max * 1.15, -0.5..y_max * 1.12 + 0.5)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(&plot.x_label)
        .y_desc(&plot.y_label)
        .label_style(("sans-serif", 12))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (label, x, y)) in finite().enumerate() {
        let color = shade(i, false);
        // The marker, and its label beside it (offset in pixels).
        let point = EmptyElement::at((*x, *y))
            + Circle::new((0, 0), 6, color.filled())
            + Text::new(
                label.clone(),
                (10, -16),
                ("sans-serif", 14).into_font().color(&color),
            );
        chart
            .draw_series(std::iter::once(point))
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Draws a scatter of labelled points into `path` (PNG, or SVG for `.svg`), never
/// half-written.
pub fn scatter(path: &Path, plot: &Scatter) -> Result<(), PlotError> {
    write(path, 540, &Figure::Scatter(plot))
}

/// What a plot file holds.
enum Figure<'a> {
    Panels(&'a str, &'a [Panel]),
    Scatter(&'a Scatter),
}

fn draw_figure<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    figure: &Figure<'_>,
) -> Result<(), String> {
    match figure {
        Figure::Panels(x_label, panels) => draw(root, x_label, panels),
        Figure::Scatter(plot) => draw_scatter(root, plot),
    }
}

/// Draws stacked panels sharing an x axis into `path` (PNG, or SVG for `.svg`). The plot is
/// drawn into a temporary file beside `path` and renamed, so `path` is never half-written.
pub fn panels(path: &Path, x_label: &str, panels: &[Panel]) -> Result<(), PlotError> {
    let height = 260 * panels.len().max(1) as u32;
    write(path, height, &Figure::Panels(x_label, panels))
}

fn write(path: &Path, height: u32, figure: &Figure<'_>) -> Result<(), PlotError> {
    register_font();
    let err = |message: String| PlotError {
        path: path.display().to_string(),
        message,
    };
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plot".into());
    let tmp = dir.join(format!(
        ".{name}.wva-tmp-{}.{}",
        std::process::id(),
        if svg { "svg" } else { "png" }
    ));
    // A clean I/O error for an unwritable place, before plotters wraps it; removed if anything
    // fails, or on SIGINT/SIGTERM.
    let tmp = crate::tempfiles::TempPath::create(tmp, |p| std::fs::File::create(p).map(drop))
        .map_err(|e| err(e.to_string()))?;
    let drawn = if svg {
        draw_figure(
            SVGBackend::new(tmp.path(), (960, height)).into_drawing_area(),
            figure,
        )
    } else {
        draw_figure(
            BitMapBackend::new(tmp.path(), (960, height)).into_drawing_area(),
            figure,
        )
    }
    .and_then(|()| tmp.persist(path).map_err(|e| e.to_string()));
    drawn.map_err(err)
}

/// The timeline of a simulation: load and throughput, occupancy, and TTFT over time.
pub fn timeline(path: &Path, rows: &[TimelineRow]) -> Result<(), PlotError> {
    let mut groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    groups.dedup();
    groups.sort_unstable();
    groups.dedup();
    let series = |f: &dyn Fn(&TimelineRow) -> f64, suffix: &str, light: bool| -> Vec<Series> {
        groups
            .iter()
            .enumerate()
            .map(|(i, g)| Series {
                name: format!("{g}{suffix}"),
                color: i,
                light,
                points: rows
                    .iter()
                    .filter(|r| r.group == *g)
                    .map(|r| (r.start_s, f(r)))
                    .collect(),
            })
            .collect()
    };
    let mut load = series(&|r| r.arrivals_rps, " arrivals", false);
    load.extend(series(&|r| r.throughput_rps, " completions", true));
    let mut occupancy = series(&|r| r.running, " running", false);
    occupancy.extend(series(&|r| r.waiting, " waiting", true));
    panels(
        path,
        "time (s)",
        &[
            Panel {
                title: "Load".into(),
                y_label: "requests/s".into(),
                x_label: None,
                series: load,
            },
            Panel {
                title: "Requests in the replicas".into(),
                y_label: "requests".into(),
                x_label: None,
                series: occupancy,
            },
            Panel {
                title: "Time to first token (mean of completions)".into(),
                y_label: "ms".into(),
                x_label: None,
                series: series(&|r| r.mean_ttft_ms, "", false),
            },
        ],
    )
}

/// A trace at a glance: its per-minute rate over time, and histograms of prompt and output
/// tokens (log-spaced bins).
pub fn trace_stats(path: &Path, stats: &crate::trace::stats::TraceStats) -> Result<(), PlotError> {
    // Per-minute rates as `stats` counts them (a short last minute left out: it would look
    // like a drop).
    let rates = crate::trace::stats::minute_rates_rps(&stats.per_minute, stats.duration_s);
    let rate = Series {
        name: "requests/s (per minute)".into(),
        color: 0,
        light: false,
        points: rates
            .iter()
            .enumerate()
            .map(|(m, &r)| (m as f64, r))
            .collect(),
    };
    let histogram = |counts: &std::collections::BTreeMap<u32, u64>, color: usize, name: &str| {
        // Bins of width 10% in log space, as the share of requests per bin.
        let total: u64 = counts.values().sum();
        let mut bins: std::collections::BTreeMap<i64, u64> = std::collections::BTreeMap::new();
        for (&v, &c) in counts {
            let b = (f64::from(v.max(1)).ln() / 1.1f64.ln()).floor() as i64;
            *bins.entry(b).or_default() += c;
        }
        Series {
            name: name.into(),
            color,
            light: false,
            points: bins
                .iter()
                .map(|(&b, &c)| (1.1f64.powf(b as f64 + 0.5), c as f64 / total.max(1) as f64))
                .collect(),
        }
    };
    panels(
        path,
        "minute",
        &[
            Panel {
                title: "Arrival rate".into(),
                y_label: "requests/s".into(),
                x_label: Some("minute".into()),
                series: vec![rate],
            },
            Panel {
                title: "Prompt tokens".into(),
                y_label: "share of requests per bin".into(),
                x_label: Some("tokens (bins 10% wide)".into()),
                series: vec![histogram(&stats.prompt_counts, 1, "prompt")],
            },
            Panel {
                title: "Output tokens".into(),
                y_label: "share of requests per bin".into(),
                x_label: Some("tokens (bins 10% wide)".into()),
                series: vec![histogram(&stats.output_counts, 2, "output")],
            },
        ],
    )
}

impl crate::error::ModuleError for PlotError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Negative values (residuals) get their own part of the y axis instead of a flat line at 0.
    #[test]
    fn negative_values_extend_the_y_axis_below_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.svg");
        let series = Series {
            name: "residual".into(),
            color: 0,
            light: false,
            points: vec![(0.0, -40.0), (1.0, 10.0), (2.0, -5.0)],
        };
        panels(
            &path,
            "x",
            &[Panel {
                title: "residuals".into(),
                y_label: "%".into(),
                x_label: None,
                series: vec![series],
            }],
        )
        .unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let labels: Vec<&str> = svg
            .split('>')
            .filter_map(|t| t.split('<').next())
            .filter(|t| !t.trim().is_empty())
            .collect();
        assert!(
            labels.iter().any(|t| t.trim().starts_with('-')),
            "no negative tick label: {labels:?}"
        );
    }
}
