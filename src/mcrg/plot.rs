//! The figure of an MCRG report: couplings against level, and the exponents y of both
//! sectors against level, one curve per truncation (the reference value as a flat line).

use super::McrgReport;
use crate::error::Result;
use crate::plot::{ErrorCurve, Panel, panels_png};
use std::path::Path;

/// Draws `report` into a PNG of `size` pixels at `path` (written atomically).
///
/// # Errors
/// [`crate::Error::Io`] if drawing or writing fails.
pub fn png(report: &McrgReport, path: &Path, size: (u32, u32)) -> Result<()> {
    let level = |l: &super::LevelReport| l.level as f64;
    let mut couplings: Vec<ErrorCurve> = Vec::new();
    for l in &report.levels {
        for (name, j) in l.couplings.iter().flat_map(|c| c.0.iter()) {
            let point = (level(l), j.mean, j.error);
            match couplings.iter_mut().find(|c| &c.label == name) {
                Some(c) => c.points.push(point),
                None => couplings.push(ErrorCurve {
                    label: name.clone(),
                    points: vec![point],
                }),
            }
        }
    }
    let sector = |odd: bool, reference: Option<f64>| {
        let mut curves: Vec<ErrorCurve> = Vec::new();
        for l in &report.levels {
            let Some(e) = &l.exponents else { continue };
            for x in if odd { &e.odd } else { &e.even } {
                let (Some(y), error) = (x.y, x.error.unwrap_or(0.0)) else {
                    continue;
                };
                let label = format!("{} operators", x.operators);
                let point = (level(l), y, error);
                match curves.iter_mut().find(|c| c.label == label) {
                    Some(c) => c.points.push(point),
                    None => curves.push(ErrorCurve {
                        label,
                        points: vec![point],
                    }),
                }
            }
        }
        let levels: Vec<f64> = report
            .levels
            .iter()
            .filter(|l| l.exponents.is_some())
            .map(level)
            .collect();
        if let (Some(y), Some(&lo), Some(&hi)) = (reference, levels.first(), levels.last()) {
            curves.push(ErrorCurve {
                label: format!("reference {y:.4}"),
                points: vec![(lo, y, 0.0), (hi, y, 0.0)],
            });
        }
        curves
    };
    let panels = [
        Panel {
            title: "renormalized couplings (Callen's identity)".into(),
            x_label: "level n".into(),
            y_label: "K".into(),
            curves: couplings,
        },
        Panel {
            title: "even sector: y = ln λ / ln b".into(),
            x_label: "level n".into(),
            y_label: "y (thermal)".into(),
            curves: sector(false, report.reference.y_t),
        },
        Panel {
            title: "odd sector: y = ln λ / ln b".into(),
            x_label: "level n".into(),
            y_label: "y (magnetic)".into(),
            curves: sector(true, report.reference.y_h),
        },
    ];
    let p = &report.parameters;
    let title = format!(
        "blockspin mcrg: {} L={}, {} rule, b={}, {} configurations",
        p.lattice, p.size, p.rule, p.block, p.configurations
    );
    panels_png(path, size, &title, 3, &panels)
}
