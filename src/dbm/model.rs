//! Three-layer deep Boltzmann machines: the model, its TOML file, and generators.
//!
//! Energy (physics.md §1), visible `v` (bernoulli 0/1 or spin ±1, biases a), intermediate
//! `h` and deep `s` layers, each `gaussian` (means, standard deviations) or `bernoulli`
//! (biases d, energy −dᵀs), weights W (n_v × n_h) and M (n_h × n_s):
//!
//! $$E = −aᵀv + ½(h−μ)ᵀP_h(h−μ) + ½(s−ν)ᵀP_s(s−ν) − vᵀWh − hᵀMs,$$
//!
//! with `P = diag(1/σ²)`; a bernoulli layer replaces its quadratic term by `−dᵀh`.

use super::limits;
use crate::error::{Error, Result};
use crate::rng::philox4x32_10;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Visible unit values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum VisibleUnits {
    /// v ∈ {0, 1}.
    Bernoulli,
    /// v ∈ {−1, +1}.
    Spin,
}

/// A hidden layer (intermediate or deep).
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// Gaussian units with means and standard deviations (> 0).
    Gaussian {
        /// μ (or ν).
        mean: Vec<f64>,
        /// σ (or τ).
        std: Vec<f64>,
    },
    /// Bernoulli units s ∈ {0, 1} with energy −d·s.
    Bernoulli {
        /// d.
        bias: Vec<f64>,
    },
}

impl Layer {
    /// Number of units.
    pub fn len(&self) -> usize {
        match self {
            Layer::Gaussian { mean, .. } => mean.len(),
            Layer::Bernoulli { bias } => bias.len(),
        }
    }
    /// True for a layer without units.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True for Gaussian units.
    pub fn is_gaussian(&self) -> bool {
        matches!(self, Layer::Gaussian { .. })
    }
    /// "gaussian" or "bernoulli".
    pub fn units(&self) -> &'static str {
        if self.is_gaussian() {
            "gaussian"
        } else {
            "bernoulli"
        }
    }
}

/// A validated three-layer DBM. Matrices are rows of `Vec<f64>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dbm {
    /// Visible unit values.
    pub visible_units: VisibleUnits,
    /// a.
    pub visible_bias: Vec<f64>,
    /// The intermediate layer h.
    pub hidden: Layer,
    /// The deep (UV) layer s.
    pub deep: Layer,
    /// W, n_v rows of n_h.
    pub visible_hidden: Vec<Vec<f64>>,
    /// M, n_h rows of n_s.
    pub hidden_deep: Vec<Vec<f64>>,
}

// ---- file format ----

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VisibleSection {
    units: VisibleUnits,
    bias: Vec<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
enum LayerUnits {
    Gaussian,
    Bernoulli,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerSection {
    units: LayerUnits,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mean: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    std: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bias: Option<Vec<f64>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightsSection {
    visible_hidden: Vec<Vec<f64>>,
    hidden_deep: Vec<Vec<f64>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    visible: VisibleSection,
    hidden: LayerSection,
    deep: LayerSection,
    weights: WeightsSection,
}

fn bad(message: String) -> Error {
    Error::invalid("model", message)
}

/// Every value finite and within ±[`limits::MAX_ABS_VALUE`], so that the recursion cannot
/// overflow.
fn check_finite(what: &str, v: &[f64]) -> Result<()> {
    let max = limits::MAX_ABS_VALUE;
    match v.iter().position(|x| !(x.is_finite() && x.abs() <= max)) {
        Some(i) => Err(bad(format!(
            "{what}[{i}] must be finite and within [-{max:e}, {max:e}] (got {})",
            v[i]
        ))),
        None => Ok(()),
    }
}

fn layer_from(section: &str, s: LayerSection) -> Result<Layer> {
    match s.units {
        LayerUnits::Gaussian => {
            if s.bias.is_some() {
                return Err(bad(format!(
                    "[{section}] is gaussian: give mean and std, not bias"
                )));
            }
            let mean = s
                .mean
                .ok_or_else(|| bad(format!("[{section}] is gaussian and needs `mean`")))?;
            let std = s
                .std
                .ok_or_else(|| bad(format!("[{section}] is gaussian and needs `std`")))?;
            if mean.len() != std.len() {
                return Err(bad(format!(
                    "[{section}] mean has {} entries but std has {}",
                    mean.len(),
                    std.len()
                )));
            }
            check_finite(&format!("[{section}] mean"), &mean)?;
            check_finite(&format!("[{section}] std"), &std)?;
            let (lo, hi) = limits::STD_RANGE;
            if let Some(i) = std.iter().position(|&x| !(lo..=hi).contains(&x)) {
                return Err(bad(format!(
                    "[{section}] std[{i}] must be > 0, within [{lo:e}, {hi:e}] (got {})",
                    std[i]
                )));
            }
            Ok(Layer::Gaussian { mean, std })
        }
        LayerUnits::Bernoulli => {
            if s.mean.is_some() || s.std.is_some() {
                return Err(bad(format!(
                    "[{section}] is bernoulli: give bias, not mean/std"
                )));
            }
            let bias = s
                .bias
                .ok_or_else(|| bad(format!("[{section}] is bernoulli and needs `bias`")))?;
            check_finite(&format!("[{section}] bias"), &bias)?;
            Ok(Layer::Bernoulli { bias })
        }
    }
}

fn layer_section(l: &Layer) -> LayerSection {
    match l {
        Layer::Gaussian { mean, std } => LayerSection {
            units: LayerUnits::Gaussian,
            mean: Some(mean.clone()),
            std: Some(std.clone()),
            bias: None,
        },
        Layer::Bernoulli { bias } => LayerSection {
            units: LayerUnits::Bernoulli,
            mean: None,
            std: None,
            bias: Some(bias.clone()),
        },
    }
}

fn check_matrix(
    name: &str,
    m: &[Vec<f64>],
    rows: usize,
    cols: usize,
    row_what: &str,
    col_what: &str,
) -> Result<()> {
    if m.len() != rows {
        return Err(bad(format!(
            "[weights] {name} has {} rows but there are {rows} {row_what} units",
            m.len()
        )));
    }
    for (r, row) in m.iter().enumerate() {
        if row.len() != cols {
            return Err(bad(format!(
                "[weights] {name} row {r} has {} entries but there are {cols} {col_what} units",
                row.len()
            )));
        }
        check_finite(&format!("[weights] {name} row {r}: entry"), row)?;
    }
    Ok(())
}

impl Dbm {
    /// Checks sizes and values.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the offending key.
    pub fn new(
        visible_units: VisibleUnits,
        visible_bias: Vec<f64>,
        hidden: Layer,
        deep: Layer,
        visible_hidden: Vec<Vec<f64>>,
        hidden_deep: Vec<Vec<f64>>,
    ) -> Result<Self> {
        check_finite("[visible] bias", &visible_bias)?;
        let (nv, nh, ns) = (visible_bias.len(), hidden.len(), deep.len());
        if nv == 0 || nh == 0 || ns == 0 {
            return Err(bad(format!(
                "every layer needs at least one unit (visible {nv}, hidden {nh}, deep {ns})"
            )));
        }
        check_matrix(
            "visible_hidden",
            &visible_hidden,
            nv,
            nh,
            "visible",
            "hidden",
        )?;
        check_matrix("hidden_deep", &hidden_deep, nh, ns, "hidden", "deep")?;
        Ok(Dbm {
            visible_units,
            visible_bias,
            hidden,
            deep,
            visible_hidden,
            hidden_deep,
        })
    }

    /// Parses a model file.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`--model`) with the TOML error (line and key) or the
    /// failed check.
    pub fn from_toml(text: &str) -> Result<Self> {
        let f: ModelFile =
            toml::from_str(text).map_err(|e| bad(e.to_string().trim().replace('\n', " ")))?;
        let hidden = layer_from("hidden", f.hidden)?;
        let deep = layer_from("deep", f.deep)?;
        limits::check_sizes("model", f.visible.bias.len(), hidden.len(), deep.len())?;
        Dbm::new(
            f.visible.units,
            f.visible.bias,
            hidden,
            deep,
            f.weights.visible_hidden,
            f.weights.hidden_deep,
        )
    }

    /// Reads a model file.
    ///
    /// # Errors
    /// As [`Dbm::from_toml`], or if the file cannot be read or holds more than
    /// [`limits::MAX_MODEL_BYTES`] (a device such as /dev/zero is refused within seconds).
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::io::read_text_capped("model", path, limits::MAX_MODEL_BYTES).map_err(
            |e| match e {
                Error::Io { source, .. } => {
                    Error::invalid("model", format!("cannot read {}: {source}", path.display()))
                }
                other => other,
            },
        )?;
        // parsing the largest accepted file takes seconds and cannot be interrupted: it
        // runs on its own thread while this one answers a stop request (the process then
        // exits with the parser unfinished)
        let parser = std::thread::spawn(move || Dbm::from_toml(&text));
        while !parser.is_finished() {
            crate::interrupt::check()?;
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let parsed = parser
            .join()
            .map_err(|_| Error::Internal("the model parser panicked".into()))?;
        parsed.map_err(|e| match e {
            Error::InvalidParameter { message, .. } => {
                Error::invalid("model", format!("{}: {message}", path.display()))
            }
            other => other,
        })
    }

    /// The model as TOML (the format [`Dbm::from_toml`] reads).
    pub fn to_toml(&self) -> String {
        let f = ModelFile {
            visible: VisibleSection {
                units: self.visible_units,
                bias: self.visible_bias.clone(),
            },
            hidden: layer_section(&self.hidden),
            deep: layer_section(&self.deep),
            weights: WeightsSection {
                visible_hidden: self.visible_hidden.clone(),
                hidden_deep: self.hidden_deep.clone(),
            },
        };
        toml::to_string(&f).unwrap_or_default()
    }

    /// (n_v, n_h, n_s).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.visible_bias.len(), self.hidden.len(), self.deep.len())
    }
}

// ---- generators ----

/// Geometry of `blockspin dbm generate`.
#[derive(Clone, Debug)]
pub struct LatticeSpec {
    /// 1 (chain) or 2 (square).
    pub dimension: u32,
    /// Visible linear size L.
    pub size: u32,
    /// Receptive field side b (b or b×b visible sites per hidden unit).
    pub block: u32,
    /// Hidden units every `stride` visible sites along each axis.
    pub stride: u32,
    /// Deep units on disjoint b2 (×b2) blocks of the hidden lattice.
    pub deep_block: u32,
}

/// Weights and layer parameters of a generated model.
#[derive(Clone, Debug)]
pub struct GenerateSpec {
    /// Visible unit values.
    pub visible_units: VisibleUnits,
    /// Mean weight of W.
    pub weight: f64,
    /// Mean weight of M.
    pub deep_weight: f64,
    /// Standard deviation of the Gaussian jitter added to every weight.
    pub jitter: f64,
    /// Visible bias (all units).
    pub visible_bias: f64,
    /// Hidden standard deviation σ (all units; means 0).
    pub hidden_std: f64,
    /// Deep standard deviation τ (all units; means 0).
    pub deep_std: f64,
    /// Seed of the jitter.
    pub seed: u64,
}

/// Deterministic standard normal variates from Philox (Box–Muller, f64).
pub struct Normals {
    key: [u32; 2],
    counter: u32,
    stream: u32,
    spare: Option<f64>,
}

impl Normals {
    /// A stream of normals for `seed` and `stream`.
    pub fn new(seed: u64, stream: u32) -> Self {
        Normals {
            key: crate::rng::seed_key(seed),
            counter: 0,
            stream,
            spare: None,
        }
    }
}

impl Normals {
    /// A uniform variate in [0, 1) from the same stream (53 bits).
    pub fn uniform(&mut self) -> f64 {
        let w = philox4x32_10([self.counter, 1, self.stream, 0x4E4F_524D], self.key);
        self.counter = self.counter.wrapping_add(1);
        ((w[0] as u64) << 21 ^ (w[1] as u64 >> 11)) as f64 / (1u64 << 53) as f64
    }
}

impl Iterator for Normals {
    type Item = f64;
    fn next(&mut self) -> Option<f64> {
        if let Some(z) = self.spare.take() {
            return Some(z);
        }
        let w = philox4x32_10([self.counter, 0, self.stream, 0x4E4F_524D], self.key);
        self.counter = self.counter.wrapping_add(1);
        let u1 = ((w[0] as u64) << 21 ^ (w[1] as u64 >> 11)) as f64 / (1u64 << 53) as f64;
        let u2 = ((w[2] as u64) << 21 ^ (w[3] as u64 >> 11)) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * (1.0 - u1).ln()).sqrt();
        let th = 2.0 * std::f64::consts::PI * u2;
        self.spare = Some(r * th.sin());
        Some(r * th.cos())
    }
}

fn check_geometry(g: &LatticeSpec) -> Result<(usize, usize)> {
    if !(1..=2).contains(&g.dimension) {
        return Err(Error::invalid("lattice", "must be chain or square"));
    }
    if g.block == 0 || g.stride == 0 || g.deep_block == 0 {
        return Err(Error::invalid(
            "block",
            "block, stride and deep-block must be at least 1",
        ));
    }
    if g.size == 0 || !g.size.is_multiple_of(g.stride) {
        return Err(Error::invalid(
            "size",
            format!(
                "must be a positive multiple of stride {} (got {})",
                g.stride, g.size
            ),
        ));
    }
    if g.block > g.size {
        return Err(Error::invalid(
            "block",
            format!("must be at most size {} (got {})", g.size, g.block),
        ));
    }
    let lh = g.size / g.stride;
    if !lh.is_multiple_of(g.deep_block) {
        return Err(Error::invalid(
            "deep-block",
            format!(
                "must divide the hidden lattice size size/stride = {lh} (got {})",
                g.deep_block
            ),
        ));
    }
    let d = g.dimension;
    let nh = (lh as usize).pow(d);
    let nv = (g.size as usize).pow(d);
    let ns = ((lh / g.deep_block) as usize).pow(d);
    if nv > limits::MAX_VISIBLE || nh > limits::MAX_HIDDEN {
        return Err(Error::invalid(
            "size",
            format!(
                "{nv} visible and {nh} hidden units are more than dbm analyze handles (at most {} visible and {} hidden units); use a smaller --size or a larger --stride",
                limits::MAX_VISIBLE,
                limits::MAX_HIDDEN
            ),
        ));
    }
    if ns > limits::MAX_DEEP {
        return Err(Error::invalid(
            "deep-block",
            format!(
                "{ns} deep units are more than dbm analyze handles (at most {}); use a larger --deep-block",
                limits::MAX_DEEP
            ),
        ));
    }
    Ok((nv, nh))
}

/// A lattice-structured model: hidden unit at hidden-lattice site p couples to the
/// visible sites p·stride + [0, b)^d (periodic), deep unit at block q to the hidden sites
/// q·b2 + [0, b2)^d. Weights are `weight` (or `deep_weight`) plus N(0, jitter²).
///
/// # Errors
/// [`Error::InvalidParameter`] for inconsistent geometry.
pub fn generate_lattice(g: &LatticeSpec, p: &GenerateSpec) -> Result<Dbm> {
    let (nv, nh) = check_geometry(g)?;
    let d = g.dimension as usize;
    let l = g.size as usize;
    let lh = l / g.stride as usize;
    let ld = lh / g.deep_block as usize;
    let ns = ld.pow(d as u32);
    let coords = |index: usize, side: usize| -> Vec<usize> {
        (0..d).map(|a| index / side.pow(a as u32) % side).collect()
    };
    let index = |c: &[usize], side: usize| -> usize {
        c.iter()
            .enumerate()
            .map(|(a, x)| x * side.pow(a as u32))
            .sum()
    };
    let mut noise = Normals::new(p.seed, 0);
    let mut w = vec![vec![0.0; nh]; nv];
    for j in 0..nh {
        let hc = coords(j, lh);
        for off in 0..(g.block as usize).pow(d as u32) {
            let oc = coords(off, g.block as usize);
            let vc: Vec<usize> = hc
                .iter()
                .zip(&oc)
                .map(|(h, o)| (h * g.stride as usize + o) % l)
                .collect();
            w[index(&vc, l)][j] = p.weight + p.jitter * noise.next().unwrap_or(0.0);
        }
    }
    let mut m = vec![vec![0.0; ns]; nh];
    for k in 0..ns {
        let dc = coords(k, ld);
        for off in 0..(g.deep_block as usize).pow(d as u32) {
            let oc = coords(off, g.deep_block as usize);
            let hc: Vec<usize> = dc
                .iter()
                .zip(&oc)
                .map(|(q, o)| q * g.deep_block as usize + o)
                .collect();
            m[index(&hc, lh)][k] = p.deep_weight + p.jitter * noise.next().unwrap_or(0.0);
        }
    }
    Dbm::new(
        p.visible_units,
        vec![p.visible_bias; nv],
        Layer::Gaussian {
            mean: vec![0.0; nh],
            std: vec![p.hidden_std; nh],
        },
        Layer::Gaussian {
            mean: vec![0.0; ns],
            std: vec![p.deep_std; ns],
        },
        w,
        m,
    )
}

/// A dense random model: every weight N(weight, jitter²) (resp. N(deep_weight, jitter²)).
///
/// # Errors
/// [`Error::InvalidParameter`] for empty layers.
pub fn generate_dense(nv: usize, nh: usize, ns: usize, p: &GenerateSpec) -> Result<Dbm> {
    if nv == 0 || nh == 0 || ns == 0 {
        return Err(Error::invalid(
            "visible",
            "visible, hidden and deep must be at least 1",
        ));
    }
    for (param, n, max) in [
        ("visible", nv, limits::MAX_VISIBLE),
        ("hidden", nh, limits::MAX_HIDDEN),
        ("deep", ns, limits::MAX_DEEP),
    ] {
        if n > max {
            return Err(Error::invalid(
                param,
                format!(
                    "must be at most {max} (got {n}): dbm analyze handles at most {} visible, {} hidden and {} deep units",
                    limits::MAX_VISIBLE,
                    limits::MAX_HIDDEN,
                    limits::MAX_DEEP
                ),
            ));
        }
    }
    let mut noise = Normals::new(p.seed, 1);
    let mut draw = |mean: f64| mean + p.jitter * noise.next().unwrap_or(0.0);
    let w = (0..nv)
        .map(|_| (0..nh).map(|_| draw(p.weight)).collect())
        .collect();
    let m = (0..nh)
        .map(|_| (0..ns).map(|_| draw(p.deep_weight)).collect())
        .collect();
    Dbm::new(
        p.visible_units,
        vec![p.visible_bias; nv],
        Layer::Gaussian {
            mean: vec![0.0; nh],
            std: vec![p.hidden_std; nh],
        },
        Layer::Gaussian {
            mean: vec![0.0; ns],
            std: vec![p.deep_std; ns],
        },
        w,
        m,
    )
}

/// The example model of the issue and the README (4 visible, 3 hidden, 2 deep units).
pub const EXAMPLE: &str = r#"
[visible]
units = "bernoulli"
bias = [0.1, -0.2, 0.0, 0.3]
[hidden]
units = "gaussian"
mean = [0.0, 0.1, -0.1]
std = [1.0, 0.8, 1.2]
[deep]
units = "gaussian"
mean = [0.2, -0.3]
std = [0.7, 1.1]
[weights]
visible_hidden = [[0.3, -0.2, 0.1], [0.0, 0.4, -0.1], [0.2, 0.2, 0.3], [-0.3, 0.1, 0.2]]
hidden_deep = [[0.5, -0.2], [0.1, 0.3], [-0.4, 0.2]]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_round_trips() {
        let m = Dbm::from_toml(EXAMPLE).unwrap();
        assert_eq!(m.sizes(), (4, 3, 2));
        assert_eq!(Dbm::from_toml(&m.to_toml()).unwrap(), m);
    }

    #[test]
    fn bad_files_name_the_key() {
        let cases = [
            (
                EXAMPLE.replace("std = [1.0, 0.8, 1.2]", "std = [1.0, -0.8, 1.2]"),
                "std[1]",
            ),
            (
                EXAMPLE.replace("[0.5, -0.2], [0.1, 0.3]", "[0.5], [0.1, 0.3]"),
                "hidden_deep row 0",
            ),
            (
                EXAMPLE.replace("units = \"bernoulli\"", "units = \"ternary\""),
                "ternary",
            ),
            (EXAMPLE.replace("[deep]", "[deep]\ncolour = 1"), "colour"),
            (
                EXAMPLE.replace("mean = [0.2, -0.3]", "bias = [0.2, -0.3]"),
                "[deep]",
            ),
        ];
        for (text, needle) in cases {
            let e = Dbm::from_toml(&text).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn lattice_generator_geometry() {
        let g = LatticeSpec {
            dimension: 2,
            size: 8,
            block: 4,
            stride: 2,
            deep_block: 2,
        };
        let p = GenerateSpec {
            visible_units: VisibleUnits::Bernoulli,
            weight: 0.3,
            deep_weight: 0.2,
            jitter: 0.0,
            visible_bias: 0.0,
            hidden_std: 1.0,
            deep_std: 1.0,
            seed: 1,
        };
        let m = generate_lattice(&g, &p).unwrap();
        assert_eq!(m.sizes(), (64, 16, 4));
        for j in 0..16 {
            assert_eq!(m.visible_hidden.iter().filter(|r| r[j] != 0.0).count(), 16);
        }
        for k in 0..4 {
            assert_eq!(m.hidden_deep.iter().filter(|r| r[k] != 0.0).count(), 4);
        }
        // overlapping fields: visible sites belong to 4 hidden units each (b/stride)^2
        assert!(
            m.visible_hidden
                .iter()
                .all(|r| r.iter().filter(|&&x| x != 0.0).count() == 4)
        );
    }
}
