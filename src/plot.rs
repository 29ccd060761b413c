//! PNG plots with an embedded font (DejaVu Sans, `assets/`), so no system fonts are needed.

use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// One curve: label and (x, y) points.
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// Points (x, y), both > 0 on log axes.
    pub points: Vec<(f64, f64)>,
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// Ticks at the data's x values (the sizes measured), thinned to at most ten.
fn x_ticks(points: &[(f64, f64)]) -> Vec<f64> {
    let mut xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let step = xs.len().div_ceil(10).max(1);
    xs.into_iter().step_by(step).collect()
}

/// Log-axis ticks at 1, 2, 5 × 10^k in [lo, hi], or only at the decades when those are
/// more than twelve.
fn ticks_125(lo: f64, hi: f64) -> Vec<f64> {
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let all: Vec<f64> = (k0..=k1)
        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
        .filter(|&v| v >= lo && v <= hi)
        .collect();
    if all.len() <= 12 {
        all
    } else {
        (k0..=k1)
            .map(|k| 10f64.powi(k))
            .filter(|&v| v >= lo && v <= hi)
            .collect()
    }
}

/// A tick label with at most two significant digits and no exponent for 10⁻³ … 10⁶
/// and trailing zeros dropped (0.02, 0.5, 3, 40, 1000, 4096 → 4100), scientific notation
/// beyond.
pub fn tick_label(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let e = v.abs().log10().floor();
    let rounded = (v / 10f64.powf(e - 1.0)).round() * 10f64.powf(e - 1.0);
    if (-3.0..=6.0).contains(&e) {
        let decimals = (1.0 - e).max(0.0) as usize;
        let s = format!("{rounded:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{rounded:.1e}")
    }
}

/// Draws curves on log-log axes into a PNG of `size` pixels, written atomically.
///
/// # Errors
/// [`Error::Io`] if drawing or writing fails.
pub fn log_log_png(
    path: &Path,
    size: (u32, u32),
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
) -> Result<()> {
    register_font();
    let points: Vec<(f64, f64)> = curves
        .iter()
        .flat_map(|c| c.points.iter().copied())
        .filter(|p| p.0 > 0.0 && p.1 > 0.0)
        .collect();
    if points.is_empty() {
        return Err(plot_error(path, "nothing to plot"));
    }
    let (x0, x1) = points
        .iter()
        .fold((f64::INFINITY, 0.0f64), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let (y0, y1) = points
        .iter()
        .fold((f64::INFINITY, 0.0f64), |a, p| (a.0.min(p.1), a.1.max(p.1)));
    let mut buffer = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (x0 / 1.5..x1 * 1.5)
                    .log_scale()
                    .with_key_points(x_ticks(&points)),
                (y0 / 2.0..y1 * 2.0)
                    .log_scale()
                    .with_key_points(ticks_125(y0 / 2.0, y1 * 2.0)),
            )
            .map_err(|e| plot_error(path, e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|v| {
                if v.fract() == 0.0 && v.abs() < 1e7 {
                    format!("{v:.0}")
                } else {
                    tick_label(*v)
                }
            })
            .y_label_formatter(&|v| tick_label(*v))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()
            .map_err(|e| plot_error(path, e))?;
        for (i, c) in curves.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let pts: Vec<(f64, f64)> = c
                .points
                .iter()
                .copied()
                .filter(|p| p.0 > 0.0 && p.1 > 0.0)
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
                .map_err(|e| plot_error(path, e))?
                .label(c.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, colour.filled())))
                .map_err(|e| plot_error(path, e))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| plot_error(path, e))?;
        root.present().map_err(|e| plot_error(path, e))?;
    }
    let image = image_png(&buffer, size).map_err(|e| plot_error(path, e))?;
    crate::io::write_atomic(path, |w| w.write_all(&image))
}

/// Encodes RGB8 pixels as PNG.
fn image_png(rgb: &[u8], (w, h): (u32, u32)) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// A curve with vertical error bars.
pub struct ErrorCurve {
    /// Legend label.
    pub label: String,
    /// (x, y, error).
    pub points: Vec<(f64, f64, f64)>,
}

/// One panel of a figure.
pub struct Panel {
    /// Title.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Curves.
    pub curves: Vec<ErrorCurve>,
}

/// Axis range of `values` with 6 % padding; finite whatever the values (a hand-edited
/// results file may hold 1e308 or an error bar reaching it), so the axes always draw.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    const LIMIT: f64 = 1e300;
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .map(|v| v.clamp(-LIMIT, LIMIT))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |a, v| {
            (a.0.min(v), a.1.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.06).max(1e-9 * lo.abs().max(1.0));
    (lo - pad, hi + pad)
}

/// Draws panels on a `columns`-wide grid into a PNG of `size` pixels (linear axes, error
/// bars), written atomically.
///
/// # Errors
/// [`Error::Io`] if drawing or writing fails.
pub fn panels_png(
    path: &Path,
    size: (u32, u32),
    title: &str,
    columns: usize,
    panels: &[Panel],
) -> Result<()> {
    register_font();
    let mut buffer = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
        let root = root
            .titled(title, ("sans-serif", 24))
            .map_err(|e| plot_error(path, e))?;
        let rows = panels.len().div_ceil(columns.max(1));
        let areas = root.split_evenly((rows, columns.max(1)));
        for (panel, area) in panels.iter().zip(areas.iter()) {
            let xs = range(
                panel
                    .curves
                    .iter()
                    .flat_map(|c| c.points.iter().map(|p| p.0)),
            );
            let ys = range(
                panel
                    .curves
                    .iter()
                    .flat_map(|c| c.points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2])),
            );
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, ("sans-serif", 17))
                .margin(10)
                .x_label_area_size(38)
                .y_label_area_size(62)
                .build_cartesian_2d(xs.0..xs.1, ys.0..ys.1)
                .map_err(|e| plot_error(path, e))?;
            chart
                .configure_mesh()
                .x_desc(panel.x_label.as_str())
                .y_desc(panel.y_label.as_str())
                .label_style(("sans-serif", 13))
                .axis_desc_style(("sans-serif", 14))
                .x_labels(6)
                .y_labels(6)
                .draw()
                .map_err(|e| plot_error(path, e))?;
            for (i, c) in panel.curves.iter().enumerate() {
                let colour = Palette99::pick(i).to_rgba();
                let pts: Vec<(f64, f64, f64)> = c
                    .points
                    .iter()
                    .copied()
                    .filter(|p| p.0.is_finite() && p.1.is_finite())
                    .collect();
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().map(|p| (p.0, p.1)),
                        colour.stroke_width(2),
                    ))
                    .map_err(|e| plot_error(path, e))?
                    .label(c.label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                    });
                chart
                    .draw_series(
                        pts.iter()
                            .filter(|p| p.2 > 0.0 && p.2.is_finite())
                            .map(|p| {
                                ErrorBar::new_vertical(
                                    p.0,
                                    p.1 - p.2,
                                    p.1,
                                    p.1 + p.2,
                                    colour.stroke_width(1),
                                    6,
                                )
                            }),
                    )
                    .map_err(|e| plot_error(path, e))?;
            }
            if panel.curves.len() > 1 || panel.curves.first().is_some_and(|c| !c.label.is_empty()) {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 12))
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()
                    .map_err(|e| plot_error(path, e))?;
            }
        }
        root.present().map_err(|e| plot_error(path, e))?;
    }
    let image = image_png(&buffer, size).map_err(|e| plot_error(path, e))?;
    crate::io::write_atomic(path, |w| w.write_all(&image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_finite() {
        for v in [
            vec![1.0, -1e308, 1e308],
            vec![f64::MAX, f64::MIN],
            vec![f64::NAN, f64::INFINITY],
            vec![],
            vec![3.0],
        ] {
            let (lo, hi) = range(v.iter().copied());
            assert!(
                lo.is_finite() && hi.is_finite() && lo < hi,
                "{v:?}: {lo} {hi}"
            );
        }
    }

    #[test]
    fn tick_labels_are_short() {
        for (v, want) in [
            (0.02, "0.02"),
            (0.5, "0.5"),
            (0.25, "0.25"),
            (3.0, "3"),
            (40.0, "40"),
            (1000.0, "1000"),
            (4096.0, "4100"),
            (1.5e-5, "1.5e-5"),
        ] {
            assert_eq!(tick_label(v), want);
        }
    }
}
