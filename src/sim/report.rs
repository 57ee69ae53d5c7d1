//! Everything a scenario writes: CSV series, SVG plots, `summary.json` and a
//! plain-text table for stdout.
//!
//! All output is byte-identical for identical inputs: nothing here reads the
//! clock, iterates a hash map or formats a float in a locale- or
//! platform-dependent way. Numbers go through [`fmt_num`], plots are rendered
//! by plotters' SVG backend into a string (text is written as `<text>`
//! elements, so no system font is read), and `summary.json` is written by
//! `serde_json`, whose objects keep a deterministic key order.
//!
//! ```
//! use fogstore::sim::report::{Table, fmt_num, format_table};
//!
//! let mut t = Table::new("hops", &["nodes", "mean_hops"]);
//! t.push(vec![100.0, 3.25]);
//! assert_eq!(fmt_num(1.0 / 3.0), "0.333333");
//! let text = format_table(&["nodes", "mean"], &[vec!["100".into(), "3.25".into()]]);
//! assert_eq!(text, "nodes  mean\n-----  ----\n  100  3.25\n");
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width of every SVG plot, in pixels.
pub const PLOT_WIDTH: u32 = 800;
/// Height of every SVG plot, in pixels.
pub const PLOT_HEIGHT: u32 = 500;

/// Why a report file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Creating the output directory or writing a file failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// plotters failed while drawing a plot.
    #[error("plot error: {0}")]
    Plot(String),
    /// A table row has a different number of cells than the table has
    /// columns.
    #[error("table {table}: row {row} has {found} cells, expected {expected}")]
    Ragged {
        /// The table's name.
        table: String,
        /// Index of the offending row (0-based, header not counted).
        row: usize,
        /// Number of columns.
        expected: usize,
        /// Number of cells in the row.
        found: usize,
    },
    /// A table or plot name is not a plain file name (empty, `.`/`..`, or
    /// contains a path separator).
    #[error("invalid output file name {0:?}")]
    InvalidName(String),
    /// An explicit axis range is unusable: not finite, empty or reversed, or
    /// non-positive on a logarithmic axis.
    #[error("plot {file}: invalid {axis} range {lo}..{hi}")]
    InvalidRange {
        /// The plot's file name.
        file: String,
        /// `"x"` or `"y"`.
        axis: &'static str,
        /// Lower bound as given.
        lo: f64,
        /// Upper bound as given.
        hi: f64,
    },
    /// The summary could not be serialised.
    #[error("cannot serialise summary: {0}")]
    Json(#[from] serde_json::Error),
}

// ---------------------------------------------------------------------------
// Numbers

/// Formats a number the way every CSV file (and most tables) write it.
///
/// The rule, fixed so that output is reproducible byte for byte:
///
/// - NaN is the empty string (an empty CSV field); infinities are `inf` and
///   `-inf`;
/// - an integral value with `|v| < 1e15` is written as an integer without a
///   decimal point (`-0.0` as `0`);
/// - any other value is rounded to 6 significant digits. If the rounded
///   value's decimal exponent is between -4 and 14 it is written in fixed
///   notation (never fewer digits than its integer part has), otherwise in
///   Rust's scientific notation (`1e20`, `6.02e-7`); trailing zeros of the
///   fraction or mantissa are removed in either case.
///
/// ```
/// use fogstore::sim::report::fmt_num;
/// assert_eq!(fmt_num(2.0), "2");
/// assert_eq!(fmt_num(0.125), "0.125");
/// assert_eq!(fmt_num(2.0 / 3.0), "0.666667");
/// assert_eq!(fmt_num(6.02e-7), "6.02e-7");
/// assert_eq!(fmt_num(f64::NAN), "");
/// ```
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return String::new();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        // Exact: |v| < 1e15 < 2^63, and `as` maps -0.0 to 0.
        return (v as i64).to_string();
    }
    // Round to 6 significant digits first and read the exponent off the
    // result, so that e.g. 999999.7 counts as 1e6.
    let sci = format!("{v:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..15).contains(&exp) {
        let decimals = (5 - exp).max(0) as usize;
        let fixed = format!("{v:.decimals$}");
        trim_fraction(&fixed).to_string()
    } else {
        format!("{}e{exp}", trim_fraction(mantissa))
    }
}

/// Removes trailing zeros of a fraction, and the point if nothing is left.
fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

// ---------------------------------------------------------------------------
// Tables and CSV

/// A named table of numbers, written as `NAME.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// File stem: the table is written to `DIR/name.csv`.
    pub name: String,
    /// Column headers.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    /// Creates an empty table with the given name and column headers.
    pub fn new(name: &str, columns: &[&str]) -> Self {
        Table {
            name: name.to_string(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row. The row should have one value per column: this is
    /// checked by a debug assertion here, and always by
    /// [`write_csv`](Self::write_csv), which rejects ragged tables.
    pub fn push(&mut self, row: Vec<f64>) {
        debug_assert_eq!(
            row.len(),
            self.columns.len(),
            "table {}: row length differs from column count",
            self.name
        );
        self.rows.push(row);
    }

    /// Renders the table as CSV text: a header line, then one line per row,
    /// each ended by `\n`. Numbers are formatted by [`fmt_num`] (NaN is an
    /// empty field); headers containing `,`, `"` or line breaks are quoted.
    pub fn to_csv(&self) -> Result<String, ReportError> {
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|c| csv_field(c)).collect();
        out.push_str(&header.join(","));
        out.push('\n');
        for (i, row) in self.rows.iter().enumerate() {
            if row.len() != self.columns.len() {
                return Err(ReportError::Ragged {
                    table: self.name.clone(),
                    row: i,
                    expected: self.columns.len(),
                    found: row.len(),
                });
            }
            let cells: Vec<String> = row.iter().map(|&v| fmt_num(v)).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        Ok(out)
    }

    /// Writes the table to `DIR/name.csv` (creating `dir` if needed) and
    /// returns the file's path. Fails on a ragged row without writing.
    pub fn write_csv(&self, dir: &Path) -> Result<PathBuf, ReportError> {
        check_file_name(&self.name)?;
        let text = self.to_csv()?;
        let path = dir.join(format!("{}.csv", self.name));
        write_file(dir, &path, text.as_bytes())?;
        Ok(path)
    }
}

/// Quotes a CSV field if it needs it (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

// ---------------------------------------------------------------------------
// Plots

/// How an axis maps values to positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    /// Evenly spaced values.
    #[default]
    Linear,
    /// Base-10 logarithmic; points with a non-positive coordinate on such an
    /// axis are left out of the plot.
    Log,
}

impl Scale {
    /// Whether a coordinate can be drawn on this scale.
    fn admits(self, v: f64) -> bool {
        v.is_finite() && (self == Scale::Linear || v > 0.0)
    }

    /// Data value to the axis' linear space.
    fn fwd(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log => v.log10(),
        }
    }

    /// Axis' linear space back to a data value.
    fn back(self, t: f64) -> f64 {
        match self {
            Scale::Linear => t,
            Scale::Log => 10f64.powf(t),
        }
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// A line through the points in order.
    #[default]
    Line,
    /// A marker at each point.
    Points,
    /// A line with a marker at each point.
    LinePoints,
}

/// One named series of `(x, y)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Name shown in the legend.
    pub name: String,
    /// The points, drawn in this order. Non-finite points (and non-positive
    /// ones on a log axis) are skipped; a line breaks where one is skipped.
    pub points: Vec<(f64, f64)>,
    /// How the series is drawn.
    pub style: Style,
    /// Colour slot, so that related series can share a colour; `None`
    /// takes the slot of the series' position in the plot.
    pub color: Option<usize>,
}

impl Series {
    /// Creates a series.
    pub fn new(name: &str, style: Style, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.to_string(),
            points,
            style,
            color: None,
        }
    }

    /// The same series drawn in colour slot `slot` (see
    /// [`Series::color`]).
    pub fn colored(mut self, slot: usize) -> Self {
        self.color = Some(slot);
        self
    }
}

/// A shaded stretch of the x axis, the full height of the plot, drawn under
/// the series (to mark a region of interest, such as where demand is).
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Name shown in the legend.
    pub name: String,
    /// Where the band starts on the x axis.
    pub from: f64,
    /// Where it ends.
    pub to: f64,
    /// Colour slot (as [`Series::color`]), drawn as a light tint.
    pub color: usize,
}

/// A 2-D plot, written as an 800x500 SVG file.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// File name inside the output directory, e.g. `"convergence.svg"`.
    pub file: String,
    /// Title drawn above the chart.
    pub title: String,
    /// Description of the x axis.
    pub x_label: String,
    /// Description of the y axis.
    pub y_label: String,
    /// Scale of the x axis.
    pub x_scale: Scale,
    /// Scale of the y axis.
    pub y_scale: Scale,
    /// The data; each series gets a colour from plotters' `Palette99` (its
    /// strong colours first): the one of its colour slot, or of its position.
    pub series: Vec<Series>,
    /// Fixed y range, or `None` to fit the data. Parts of series outside a
    /// fixed range are clipped.
    pub y_range: Option<(f64, f64)>,
    /// Fixed x range, or `None` to fit the data.
    pub x_range: Option<(f64, f64)>,
    /// Shaded x intervals drawn under the series; they do not widen the
    /// fitted ranges.
    pub bands: Vec<Band>,
}

/// A series after filtering and clipping: what is actually drawn.
struct Prepared<'a> {
    name: &'a str,
    style: Style,
    /// Line pieces (each with at least two points).
    lines: Vec<Vec<(f64, f64)>>,
    /// Marker positions.
    markers: Vec<(f64, f64)>,
}

impl Plot {
    /// Creates a plot with linear axes, automatic ranges and no series.
    pub fn new(file: &str, title: &str, x_label: &str, y_label: &str) -> Self {
        Plot {
            file: file.to_string(),
            title: title.to_string(),
            x_label: x_label.to_string(),
            y_label: y_label.to_string(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            series: Vec::new(),
            y_range: None,
            x_range: None,
            bands: Vec::new(),
        }
    }

    /// Renders the plot to SVG text.
    ///
    /// With no drawable point at all, the axes are drawn over a default range
    /// with a "no data" caption in the middle; that is not an error.
    pub fn render_svg(&self) -> Result<String, ReportError> {
        let xr = self.axis_range("x", self.x_range, self.x_scale, |p| p.0)?;
        let yr = self.axis_range("y", self.y_range, self.y_scale, |p| p.1)?;
        let prepared = self.prepare(xr, yr);
        let empty = prepared
            .iter()
            .all(|s| s.lines.is_empty() && s.markers.is_empty());

        let mut buf = String::new();
        {
            let root =
                SVGBackend::with_string(&mut buf, (PLOT_WIDTH, PLOT_HEIGHT)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_err)?;
            let (x0, x1) = xr;
            let (y0, y1) = yr;
            match (self.x_scale, self.y_scale) {
                (Scale::Linear, Scale::Linear) => {
                    self.render(&root, x0..x1, y0..y1, (xr, yr), &prepared, empty)?
                }
                (Scale::Linear, Scale::Log) => self.render(
                    &root,
                    x0..x1,
                    (y0..y1).log_scale(),
                    (xr, yr),
                    &prepared,
                    empty,
                )?,
                (Scale::Log, Scale::Linear) => self.render(
                    &root,
                    (x0..x1).log_scale(),
                    y0..y1,
                    (xr, yr),
                    &prepared,
                    empty,
                )?,
                (Scale::Log, Scale::Log) => self.render(
                    &root,
                    (x0..x1).log_scale(),
                    (y0..y1).log_scale(),
                    (xr, yr),
                    &prepared,
                    empty,
                )?,
            }
            root.present().map_err(plot_err)?;
        }
        Ok(buf)
    }

    /// Writes the plot to `DIR/file` (creating `dir` if needed) and returns
    /// the file's path.
    pub fn write_svg(&self, dir: &Path) -> Result<PathBuf, ReportError> {
        check_file_name(&self.file)?;
        let svg = self.render_svg()?;
        let path = dir.join(&self.file);
        write_file(dir, &path, svg.as_bytes())?;
        Ok(path)
    }

    /// The range of one axis: the explicit one, validated, or one fitted to
    /// the drawable points.
    fn axis_range(
        &self,
        axis: &'static str,
        fixed: Option<(f64, f64)>,
        scale: Scale,
        coord: impl Fn(&(f64, f64)) -> f64,
    ) -> Result<(f64, f64), ReportError> {
        if let Some((lo, hi)) = fixed {
            if !(scale.admits(lo) && scale.admits(hi) && lo < hi) {
                return Err(ReportError::InvalidRange {
                    file: self.file.clone(),
                    axis,
                    lo,
                    hi,
                });
            }
            return Ok((lo, hi));
        }
        let mut bounds: Option<(f64, f64)> = None;
        for p in self.series.iter().flat_map(|s| s.points.iter()) {
            if self.x_scale.admits(p.0) && self.y_scale.admits(p.1) {
                let v = coord(p);
                bounds = Some(match bounds {
                    None => (v, v),
                    Some((lo, hi)) => (lo.min(v), hi.max(v)),
                });
            }
        }
        Ok(match (scale, bounds) {
            (Scale::Linear, None) => (0.0, 1.0),
            (Scale::Log, None) => (1.0, 10.0),
            (Scale::Linear, Some((lo, hi))) => {
                let span = hi - lo;
                let pad = if span > 0.0 {
                    span * 0.05
                } else if lo != 0.0 {
                    lo.abs() * 0.1
                } else {
                    1.0
                };
                (lo - pad, hi + pad)
            }
            (Scale::Log, Some((lo, hi))) => {
                // Whole decades, so that the axis always has labelled ticks.
                let lo = 10f64.powi(decade_floor(lo));
                let mut hi = 10f64.powi(decade_ceil(hi));
                if hi <= lo {
                    hi = lo * 10.0;
                }
                (lo, hi)
            }
        })
    }

    /// Filters and clips every series to the axis ranges.
    fn prepare(&self, xr: (f64, f64), yr: (f64, f64)) -> Vec<Prepared<'_>> {
        let (xs, ys) = (self.x_scale, self.y_scale);
        let bx = (xs.fwd(xr.0), xs.fwd(xr.1));
        let by = (ys.fwd(yr.0), ys.fwd(yr.1));
        let inside = |p: &(f64, f64)| p.0 >= xr.0 && p.0 <= xr.1 && p.1 >= yr.0 && p.1 <= yr.1;
        self.series
            .iter()
            .map(|s| {
                // Runs of consecutive drawable points.
                let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
                for &p in &s.points {
                    if xs.admits(p.0) && ys.admits(p.1) {
                        if let Some(run) = runs.last_mut() {
                            run.push(p);
                        }
                    } else if runs.last().is_some_and(|r| !r.is_empty()) {
                        runs.push(Vec::new());
                    }
                }
                runs.retain(|r| !r.is_empty());

                let mut lines = Vec::new();
                let mut markers = Vec::new();
                let draw_lines = matches!(s.style, Style::Line | Style::LinePoints);
                let draw_markers = matches!(s.style, Style::Points | Style::LinePoints);
                for run in &runs {
                    if draw_markers || run.len() == 1 {
                        // A lone point of a line series would be invisible:
                        // mark it instead.
                        markers.extend(run.iter().copied().filter(|p| inside(p)));
                    }
                    if draw_lines && run.len() > 1 {
                        let mut piece: Vec<(f64, f64)> = Vec::new();
                        for w in run.windows(2) {
                            let Some((a, b)) = clip_segment(w[0], w[1], xs, ys, bx, by) else {
                                flush(&mut piece, &mut lines);
                                continue;
                            };
                            if piece.last() != Some(&a) {
                                flush(&mut piece, &mut lines);
                                piece.push(a);
                            }
                            piece.push(b);
                        }
                        flush(&mut piece, &mut lines);
                    }
                }
                Prepared {
                    name: &s.name,
                    style: s.style,
                    lines,
                    markers,
                }
            })
            .collect()
    }

    /// Draws the chart for one combination of axis types.
    fn render<XS, YS>(
        &self,
        root: &DrawingArea<SVGBackend<'_>, Shift>,
        x_spec: XS,
        y_spec: YS,
        (xr, yr): ((f64, f64), (f64, f64)),
        prepared: &[Prepared<'_>],
        empty: bool,
    ) -> Result<(), ReportError>
    where
        XS: AsRangedCoord<Value = f64>,
        YS: AsRangedCoord<Value = f64>,
        XS::CoordDescType: ValueFormatter<f64>,
        YS::CoordDescType: ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(75)
            .build_cartesian_2d(x_spec, y_spec)
            .map_err(plot_err)?;
        let fmt = |v: &f64| fmt_num(*v);
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&fmt)
            .y_label_formatter(&fmt)
            .draw()
            .map_err(plot_err)?;

        let legend = self.series.len() + self.bands.len() > 1;
        // Bands first, so the data is drawn over them; clipped to the axes.
        for band in &self.bands {
            let (lo, hi) = (band.from.max(xr.0), band.to.min(xr.1));
            if lo.is_nan() || hi.is_nan() || lo >= hi {
                continue;
            }
            let fill = series_color(band.color).mix(0.15).filled();
            let anno = chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(lo, yr.0), (hi, yr.1)],
                    fill,
                )))
                .map_err(plot_err)?;
            if legend {
                anno.label(band.name.as_str())
                    .legend(move |(x, y)| Rectangle::new([(x - 8, y - 5), (x + 12, y + 5)], fill));
            }
        }
        for (i, s) in prepared.iter().enumerate() {
            let color = series_color(self.series[i].color.unwrap_or(i));
            let line = ShapeStyle::from(&color).stroke_width(2);
            let fill = ShapeStyle::from(&color).filled();
            for piece in &s.lines {
                chart
                    .draw_series(LineSeries::new(piece.iter().copied(), line))
                    .map_err(plot_err)?;
            }
            chart
                .draw_series(s.markers.iter().map(|&p| Circle::new(p, 3, fill)))
                .map_err(plot_err)?;
            if legend {
                // An empty series that only carries the legend entry.
                let anno = chart
                    .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
                    .map_err(plot_err)?
                    .label(s.name);
                match s.style {
                    Style::Line => anno.legend(move |(x, y)| {
                        PathElement::new(vec![(x - 8, y), (x + 12, y)], line)
                    }),
                    Style::Points => anno.legend(move |(x, y)| Circle::new((x + 2, y), 3, fill)),
                    Style::LinePoints => anno.legend(move |(x, y)| {
                        EmptyElement::at((x, y))
                            + PathElement::new(vec![(-8, 0), (12, 0)], line)
                            + Circle::new((2, 0), 3, fill)
                    }),
                };
            }
        }
        if legend {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.5))
                .draw()
                .map_err(plot_err)?;
        }
        if empty {
            let (px, py) = chart.plotting_area().get_pixel_range();
            let centre = ((px.start + px.end) / 2, (py.start + py.end) / 2);
            let grey = RGBColor(110, 110, 110);
            let style = ("sans-serif", 20)
                .into_font()
                .color(&grey)
                .pos(Pos::new(HPos::Center, VPos::Center));
            root.draw(&Text::new("no data", centre, style))
                .map_err(plot_err)?;
        }
        Ok(())
    }
}

/// Colour of slot `i` (by default the `i`-th series): plotters' `Palette99`, in an order that
/// leaves out its pale entries (yellow, cyan, pastels), which are hard to see
/// on white; it cycles after 12 series.
fn series_color(i: usize) -> RGBAColor {
    const ORDER: [usize; 12] = [0, 3, 1, 4, 5, 10, 14, 7, 18, 12, 16, 20];
    Palette99::pick(ORDER[i % ORDER.len()]).to_rgba()
}

/// Ends the current line piece, keeping it if it has at least two points.
fn flush(piece: &mut Vec<(f64, f64)>, lines: &mut Vec<Vec<(f64, f64)>>) {
    if piece.len() > 1 {
        lines.push(std::mem::take(piece));
    } else {
        piece.clear();
    }
}

/// The largest `e` with `10^e <= v` (for `v > 0`).
fn decade_floor(v: f64) -> i32 {
    let mut e = v.log10().floor() as i32;
    if 10f64.powi(e) > v {
        e -= 1;
    } else if 10f64.powi(e + 1) <= v {
        e += 1;
    }
    e
}

/// The smallest `e` with `10^e >= v` (for `v > 0`).
fn decade_ceil(v: f64) -> i32 {
    let mut e = v.log10().ceil() as i32;
    if 10f64.powi(e) < v {
        e += 1;
    } else if 10f64.powi(e - 1) >= v {
        e -= 1;
    }
    e
}

/// Clips the segment `a`-`b` (data coordinates) to the box `bx` x `by`
/// (given in each axis' linear space), Liang-Barsky style. Endpoints inside
/// the box are returned exactly as given.
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    xs: Scale,
    ys: Scale,
    bx: (f64, f64),
    by: (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (ax, ay) = (xs.fwd(a.0), ys.fwd(a.1));
    let (dx, dy) = (xs.fwd(b.0) - ax, ys.fwd(b.1) - ay);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, ax - bx.0),
        (dx, bx.1 - ax),
        (-dy, ay - by.0),
        (dy, by.1 - ay),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f64, end: (f64, f64)| {
        if t == 0.0 {
            a
        } else if t == 1.0 {
            end
        } else {
            (xs.back(ax + t * dx), ys.back(ay + t * dy))
        }
    };
    Some((at(t0, b), at(t1, b)))
}

fn plot_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot(e.to_string())
}

// ---------------------------------------------------------------------------
// Files

/// Rejects names that are not a plain file name inside the output directory.
fn check_file_name(name: &str) -> Result<(), ReportError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(ReportError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// Creates `dir` if needed and writes `bytes` to `path`.
fn write_file(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    fs::write(path, bytes).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `summary` as pretty-printed JSON with a trailing newline to
/// `DIR/summary.json` (creating `dir` if needed) and returns the path.
///
/// Object keys come out in `serde_json`'s map order: sorted, as this crate
/// does not enable `serde_json`'s `preserve_order` feature (with it they
/// would keep insertion order; deterministic either way).
pub fn write_summary(dir: &Path, summary: &serde_json::Value) -> Result<PathBuf, ReportError> {
    let mut text = serde_json::to_string_pretty(summary)?;
    text.push('\n');
    let path = dir.join("summary.json");
    write_file(dir, &path, text.as_bytes())?;
    Ok(path)
}

// ---------------------------------------------------------------------------
// Text tables

/// Whether a table cell looks like a number: it parses as `f64` (which
/// includes `inf` and `NaN`), possibly after removing one trailing `%`.
fn numeric_looking(cell: &str) -> bool {
    let s = cell.trim();
    let s = s.strip_suffix('%').unwrap_or(s);
    !s.is_empty() && s.parse::<f64>().is_ok()
}

/// Lays out an aligned plain-text table for stdout.
///
/// Columns are separated by two spaces and a rule of dashes goes under the
/// header. Numeric-looking cells (see below) are right-aligned, other cells
/// left-aligned; a header is right-aligned when every non-empty cell of its
/// column is numeric-looking (and there is at least one). A cell is
/// numeric-looking when it parses as an `f64`, possibly after removing one
/// trailing `%`. Missing cells of short rows are blank. Widths count
/// characters; trailing spaces are trimmed and every line ends with `\n`.
///
/// ```
/// use fogstore::sim::report::format_table;
/// let t = format_table(&["name", "value"], &[
///     vec!["a".into(), "1".into()],
///     vec!["bb".into(), "22.5".into()],
/// ]);
/// assert_eq!(t, "name  value\n----  -----\na         1\nbb     22.5\n");
/// ```
pub fn format_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let ncols = rows
        .iter()
        .map(Vec::len)
        .chain(std::iter::once(headers.len()))
        .max()
        .unwrap_or(0);
    fn cell(r: &[String], c: usize) -> &str {
        r.get(c).map(String::as_str).unwrap_or("")
    }
    let width = |s: &str| s.chars().count();

    let mut widths = vec![0usize; ncols];
    let mut numeric_col = vec![true; ncols];
    let mut any_cell = vec![false; ncols];
    for (c, h) in headers.iter().enumerate() {
        widths[c] = width(h);
    }
    for r in rows {
        for c in 0..ncols {
            let s = cell(r, c);
            widths[c] = widths[c].max(width(s));
            if !s.is_empty() {
                any_cell[c] = true;
                numeric_col[c] &= numeric_looking(s);
            }
        }
    }

    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = (usize, &str, bool)>| {
        let mut l = String::new();
        for (c, s, right) in cells {
            if c > 0 {
                l.push_str("  ");
            }
            let pad = widths[c].saturating_sub(width(s));
            if right {
                l.extend(std::iter::repeat_n(' ', pad));
                l.push_str(s);
            } else {
                l.push_str(s);
                l.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    line(&mut (0..ncols).map(|c| {
        (
            c,
            headers.get(c).copied().unwrap_or(""),
            numeric_col[c] && any_cell[c],
        )
    }));
    line(&mut rule.iter().enumerate().map(|(c, s)| (c, s.as_str(), false)));
    for r in rows {
        line(&mut (0..ncols).map(|c| {
            let s = cell(r, c);
            (c, s, numeric_looking(s))
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("fogstore-report-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn fmt_num_cases() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(-0.0), "0");
        assert_eq!(fmt_num(1.0), "1");
        assert_eq!(fmt_num(-3.0), "-3");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(1.0 / 3.0), "0.333333");
        assert_eq!(fmt_num(-2.0 / 3.0), "-0.666667");
        assert_eq!(fmt_num(1e20), "1e20");
        assert_eq!(fmt_num(6.02e-7), "6.02e-7");
        assert_eq!(fmt_num(f64::NAN), "");
        assert_eq!(fmt_num(f64::INFINITY), "inf");
        assert_eq!(fmt_num(f64::NEG_INFINITY), "-inf");
        assert_eq!(fmt_num(123456789.0), "123456789");
        assert_eq!(fmt_num(1234.56789), "1234.57");
        assert_eq!(fmt_num(999999.7), "1000000");
        assert_eq!(fmt_num(0.1 + 0.2), "0.3");
        assert_eq!(fmt_num(0.00012345678), "0.000123457");
        assert_eq!(fmt_num(0.000012345678), "1.23457e-5");
        assert_eq!(fmt_num(1.5e15), "1.5e15");
    }

    #[test]
    fn csv_exact_text() {
        let mut t = Table::new("sample", &["n", "frac", "label,x"]);
        t.push(vec![1.0, 0.5, -3.0]);
        t.push(vec![20.0, 1.0 / 3.0, f64::NAN]);
        t.push(vec![-7.0, 6.02e-7, 1e20]);
        let dir = TempDir::new("csv");
        let path = t.write_csv(&dir.0).unwrap();
        assert_eq!(path, dir.0.join("sample.csv"));
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "n,frac,\"label,x\"\n1,0.5,-3\n20,0.333333,\n-7,6.02e-7,1e20\n"
        );
    }

    #[test]
    fn csv_ragged_row_is_an_error() {
        let mut t = Table::new("ragged", &["a", "b"]);
        t.push(vec![1.0, 2.0]);
        t.rows.push(vec![3.0]);
        let dir = TempDir::new("ragged");
        match t.write_csv(&dir.0) {
            Err(ReportError::Ragged {
                table,
                row,
                expected,
                found,
            }) => {
                assert_eq!((table.as_str(), row, expected, found), ("ragged", 1, 2, 1));
            }
            other => panic!("expected a ragged-row error, got {other:?}"),
        }
        assert!(!dir.0.join("ragged.csv").exists());
    }

    #[test]
    fn csv_rejects_path_names() {
        let t = Table::new("../escape", &["a"]);
        let dir = TempDir::new("name");
        assert!(matches!(
            t.write_csv(&dir.0),
            Err(ReportError::InvalidName(_))
        ));
    }

    fn sample_plot() -> Plot {
        let mut p = Plot::new(
            "convergence.svg",
            "Convergence & <hops>",
            "time (s)",
            "hops",
        );
        p.series.push(Series::new(
            "greedy",
            Style::Line,
            (0..20)
                .map(|i| (f64::from(i), f64::from(i * i) / 7.0))
                .collect(),
        ));
        p.series.push(Series::new(
            "random walk",
            Style::LinePoints,
            (0..20)
                .map(|i| (f64::from(i), 30.0 - f64::from(i)))
                .collect(),
        ));
        p.series.push(Series::new(
            "measured",
            Style::Points,
            vec![(1.5, 2.0), (f64::NAN, 3.0), (10.0, 12.5)],
        ));
        p
    }

    #[test]
    fn svg_contains_title_and_series_names() {
        let dir = TempDir::new("svg");
        let p = sample_plot();
        let path = p.write_svg(&dir.0).unwrap();
        assert_eq!(path, dir.0.join("convergence.svg"));
        let svg = fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("Convergence &amp; &lt;hops&gt;"));
        for name in ["greedy", "random walk", "measured", "time (s)", "hops"] {
            assert!(svg.contains(name), "missing {name}");
        }
        assert!(!svg.contains("no data"));
    }

    #[test]
    fn svg_is_deterministic() {
        let p = sample_plot();
        let dir = TempDir::new("svg-det");
        let a = fs::read(p.write_svg(&dir.0).unwrap()).unwrap();
        let b = fs::read(p.write_svg(&dir.0).unwrap()).unwrap();
        assert_eq!(a, b);
        assert_eq!(p.render_svg().unwrap().as_bytes(), &a[..]);
    }

    #[test]
    fn svg_log_scale_with_zero_point() {
        let mut p = Plot::new("log.svg", "Log", "nodes", "latency");
        p.x_scale = Scale::Log;
        p.y_scale = Scale::Log;
        p.series.push(Series::new(
            "a",
            Style::LinePoints,
            vec![(0.0, 1.0), (10.0, 0.0), (100.0, 5.0), (1000.0, 50.0)],
        ));
        p.series.push(Series::new(
            "b",
            Style::Line,
            vec![(-1.0, 2.0), (20.0, 3.0), (2000.0, 40.0)],
        ));
        let svg = p.render_svg().unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("Log"));
        // Whole decades around 10..2000 and 3..50.
        assert_eq!(
            p.axis_range("x", None, Scale::Log, |q| q.0).unwrap(),
            (10.0, 10000.0)
        );
        assert_eq!(
            p.axis_range("y", None, Scale::Log, |q| q.1).unwrap(),
            (1.0, 100.0)
        );
        // A non-positive explicit bound on a log axis is refused.
        p.y_range = Some((0.0, 10.0));
        assert!(matches!(
            p.render_svg(),
            Err(ReportError::InvalidRange { axis: "y", .. })
        ));
    }

    #[test]
    fn svg_empty_plot_says_no_data() {
        let dir = TempDir::new("svg-empty");
        let mut p = Plot::new("empty.svg", "Nothing yet", "x", "y");
        let svg = fs::read_to_string(p.write_svg(&dir.0).unwrap()).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("Nothing yet"));
        assert!(svg.contains("no data"));
        // Series whose every point is unusable count as empty too.
        p.y_scale = Scale::Log;
        p.series.push(Series::new(
            "zero",
            Style::Line,
            vec![(1.0, 0.0), (2.0, -1.0)],
        ));
        assert!(p.render_svg().unwrap().contains("no data"));
    }

    #[test]
    fn svg_fixed_range_clips_lines() {
        let mut p = Plot::new("clip.svg", "Clip", "x", "y");
        p.series.push(Series::new(
            "s",
            Style::Line,
            vec![(0.0, 0.0), (10.0, 10.0), (20.0, 0.0)],
        ));
        p.x_range = Some((0.0, 10.0));
        p.y_range = Some((0.0, 5.0));
        let prepared = p.prepare((0.0, 10.0), (0.0, 5.0));
        assert_eq!(prepared[0].lines, vec![vec![(0.0, 0.0), (5.0, 5.0)]]);
        assert!(p.render_svg().is_ok());
        p.x_range = Some((3.0, 3.0));
        assert!(matches!(
            p.render_svg(),
            Err(ReportError::InvalidRange { axis: "x", .. })
        ));
    }

    #[test]
    fn summary_round_trips_with_trailing_newline() {
        let dir = TempDir::new("summary");
        let v = serde_json::json!({
            "scenario": "convergence",
            "nodes": 1000,
            "mean_hops": 4.25,
            "success": [0.5, 0.75, 1.0],
            "nested": {"z": 1, "a": null},
        });
        let path = write_summary(&dir.0, &v).unwrap();
        assert_eq!(path, dir.0.join("summary.json"));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n"));
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        let again = fs::read_to_string(write_summary(&dir.0, &v).unwrap()).unwrap();
        assert_eq!(text, again);
    }

    #[test]
    fn format_table_aligns_columns() {
        let t = format_table(
            &["name", "value"],
            &[
                vec!["a".to_string(), "1".to_string()],
                vec!["bb".to_string(), "22.5".to_string()],
            ],
        );
        assert_eq!(t, "name  value\n----  -----\na         1\nbb     22.5\n");
    }

    #[test]
    fn format_table_mixed_and_short_rows() {
        let t = format_table(
            &["k", "v"],
            &[
                vec!["alpha".to_string(), "12%".to_string()],
                vec!["b".to_string()],
                vec!["-1.5".to_string(), "n/a".to_string()],
            ],
        );
        assert_eq!(t, "k      v\n-----  ---\nalpha  12%\nb\n -1.5  n/a\n");
    }
}
