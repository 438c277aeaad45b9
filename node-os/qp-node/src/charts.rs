//! The demo's two pictures, as SVG files any browser opens: the per-stage latency histogram
//! (power-of-two buckets on a log axis) and the P&L curve over replay time. Written by hand,
//! not with a plotting crate: two charts of lines and rectangles do not need one.

use std::fmt::Write as _;
use std::path::Path;

use qp_runtime::LatencyBucket;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 420.0;
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 160.0;
const MARGIN_TOP: f64 = 40.0;
const MARGIN_BOTTOM: f64 = 50.0;
const COLOURS: [&str; 7] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f"];

fn plot_width() -> f64 {
    WIDTH - MARGIN_LEFT - MARGIN_RIGHT
}

fn plot_height() -> f64 {
    HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
}

fn open_svg(title: &str) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(svg, r#"<text x="{}" y="22" font-size="15">{}</text>"#, MARGIN_LEFT, escape(title));
    let (x0, y0, x1, y1) = (MARGIN_LEFT, MARGIN_TOP, MARGIN_LEFT + plot_width(), MARGIN_TOP + plot_height());
    let _ = writeln!(svg, r#"<polyline points="{x0},{y0} {x0},{y1} {x1},{y1}" fill="none" stroke="black"/>"#);
    svg
}

/// The `n`th entry of the legend to the right of the plot.
fn legend(svg: &mut String, n: usize, colour: &str, label: &str) {
    let y = MARGIN_TOP + 16.0 * n as f64;
    let x = MARGIN_LEFT + plot_width() + 12.0;
    let _ = writeln!(
        svg,
        r#"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{colour}"/><text x="{:.1}" y="{y:.1}">{}</text>"#,
        y - 9.0,
        x + 14.0,
        escape(label)
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn human_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{} µs", ns / 1_000),
        1_000_000..1_000_000_000 => format!("{} ms", ns / 1_000_000),
        _ => format!("{} s", ns / 1_000_000_000),
    }
}

/// Per-stage latency distributions as step lines over power-of-two buckets: x is the bucket
/// (log scale), y the share of that stage's samples in it.
pub fn write_latency_histogram(path: &Path, title: &str, stages: &[(&str, Vec<LatencyBucket>)]) -> std::io::Result<()> {
    let mut svg = open_svg(title);
    let buckets = stages.iter().map(|(_, b)| b.len()).max().unwrap_or(0).max(1);
    let x_of = |i: usize| MARGIN_LEFT + plot_width() * i as f64 / buckets as f64;
    let y_of = |share: f64| MARGIN_TOP + plot_height() * (1.0 - share);
    // x labels every other bucket, from the longest series' bounds.
    if let Some((_, longest)) = stages.iter().max_by_key(|(_, b)| b.len()) {
        for (i, bucket) in longest.iter().enumerate().step_by(2) {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                x_of(i + 1),
                MARGIN_TOP + plot_height() + 16.0,
                human_ns(bucket.upper_ns)
            );
        }
    }
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="10">{:.0} %</text>"#,
            MARGIN_LEFT - 6.0,
            y_of(tick) + 4.0,
            tick * 100.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">latency bucket (upper bound, log scale)</text>"#,
        MARGIN_LEFT + plot_width() / 2.0,
        HEIGHT - 10.0
    );
    for (n, (name, series)) in stages.iter().enumerate() {
        let total: u64 = series.iter().map(|b| b.count).sum();
        if total == 0 {
            continue;
        }
        let colour = COLOURS[n % COLOURS.len()];
        let mut points = String::new();
        for (i, bucket) in series.iter().enumerate() {
            let y = y_of(bucket.count as f64 / total as f64);
            let _ = write!(points, "{:.1},{:.1} {:.1},{:.1} ", x_of(i), y, x_of(i + 1), y);
        }
        let _ = writeln!(svg, r#"<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#);
        legend(&mut svg, n, colour, &format!("{name} ({total})"));
    }
    svg.push_str("</svg>\n");
    std::fs::write(path, svg)
}

/// P&L (quote currency) against replay time in seconds, one line per series.
pub fn write_pnl_curve(path: &Path, title: &str, series: &[(&str, Vec<(f64, f64)>)]) -> std::io::Result<()> {
    let mut svg = open_svg(title);
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut t0, mut t1, mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64, 0.0f64);
    for &(t, v) in points {
        if t.is_finite() && v.is_finite() {
            (t0, t1, lo, hi) = (t0.min(t), t1.max(t), lo.min(v), hi.max(v));
        }
    }
    if !t0.is_finite() || t1 <= t0 {
        (t0, t1) = (0.0, 1.0);
    }
    if hi <= lo {
        hi = lo + 1.0;
    }
    let x_of = |t: f64| MARGIN_LEFT + plot_width() * (t - t0) / (t1 - t0);
    let y_of = |v: f64| MARGIN_TOP + plot_height() * (1.0 - (v - lo) / (hi - lo));
    let zero = y_of(0.0);
    let _ = writeln!(
        svg,
        r##"<line x1="{MARGIN_LEFT}" y1="{zero:.1}" x2="{:.1}" y2="{zero:.1}" stroke="#bbb" stroke-dasharray="4 3"/>"##,
        MARGIN_LEFT + plot_width()
    );
    for (value, label_y) in [(hi, y_of(hi)), (0.0, zero), (lo, y_of(lo))] {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="10">{value:.2}</text>"#,
            MARGIN_LEFT - 6.0,
            label_y + 4.0
        );
    }
    for (t, anchor) in [(t0, "start"), (t1, "end")] {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="{anchor}" font-size="10">{:.0} s</text>"#,
            x_of(t),
            MARGIN_TOP + plot_height() + 16.0,
            t - t0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">replay time</text>"#,
        MARGIN_LEFT + plot_width() / 2.0,
        HEIGHT - 10.0
    );
    for (n, (name, points)) in series.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let mut line = String::new();
        for &(t, v) in points.iter().filter(|(t, v)| t.is_finite() && v.is_finite()) {
            let _ = write!(line, "{:.1},{:.1} ", x_of(t), y_of(v));
        }
        let _ = writeln!(svg, r#"<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#);
        let last = points.last().map_or(0.0, |p| p.1);
        legend(&mut svg, n, colour, &format!("{name} ({last:.2})"));
    }
    svg.push_str("</svg>\n");
    std::fs::write(path, svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder under the system temp dir, removed when dropped (qp-node has no tempfile).
    struct TempDir(std::path::PathBuf);
    impl TempDir {
        fn new() -> Self {
            let path = std::env::temp_dir().join(format!("qp-node-charts-{}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn both_charts_are_well_formed_svg_with_every_series() {
        let dir = TempDir::new();
        let buckets =
            |n: u64| (0..12).map(|k| LatencyBucket { upper_ns: 2u64 << k, count: (k * n) % 7 }).collect::<Vec<_>>();
        let hist = dir.path().join("latency.svg");
        write_latency_histogram(&hist, "latency <per stage>", &[("confirm", buckets(1)), ("risk", buckets(3))])
            .unwrap();
        let text = std::fs::read_to_string(&hist).unwrap();
        assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
        assert!(text.contains("confirm (") && text.contains("risk ("));
        assert!(text.contains("&lt;per stage&gt;"), "titles are escaped");
        assert_eq!(text.matches("<polyline").count(), 3, "axes and two series");

        let pnl = dir.path().join("pnl.svg");
        let curve: Vec<(f64, f64)> = (0..50).map(|i| (f64::from(i), (f64::from(i) / 5.0).sin())).collect();
        write_pnl_curve(&pnl, "P&L", &[("total", curve), ("empty", Vec::new())]).unwrap();
        let text = std::fs::read_to_string(&pnl).unwrap();
        assert!(text.contains("P&amp;L"));
        assert!(!text.contains("NaN") && !text.contains("inf"));
    }
}
