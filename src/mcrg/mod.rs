//! Monte Carlo renormalization group (Swendsen 1979, 1984; physics.md §8).
//!
//! Every measured configuration (±1 spins on an L^d torus: chain, square or cubic) is
//! blocked `levels` times with b sites per axis ([`blocking`]); at every level the operator
//! sums of the even and odd lists ([`operators`]) and the local-field histogram of the
//! coupling basis are accumulated. [`Mcrg::finish`] gives the linearized-RG exponents of
//! every level n ≥ 1 ([`exponents`]) and the Callen-identity couplings of every level
//! including 0 ([`couplings`]), with jackknife errors over groups of consecutive
//! configurations, as a [`McrgReport`] (schema `blockspin/mcrg/1`).
//!
//! Entry points: [`run`] for configurations from anywhere (an iterator of ±1 slices, e.g. a
//! user's NPY file), [`sample`] to draw them with a lattice [`Sampler`] ([`sample_with`]:
//! with [`checkpoint`]s).
//!
//! Where it runs: on the CPU the operator sums and local fields are row-wise [`stencil`]s
//! (instance lists only on tori so small that operators fold); on a GPU sampler the
//! blocking, sums and histograms run on the device ([`gpu`]), bit-identical, and only
//! those integers are read back.
//!
//! On a small coarse torus operators fold onto each other (the chain's `3rd` pairs are its
//! `nn` pairs on a 4-ring, [`OperatorTable::distinct_prefix`]). Couplings are estimated at
//! the levels where the whole basis is well defined (elsewhere `couplings` is absent);
//! exponents for the truncations whose operators are well defined at both levels n − 1
//! and n (the others, and those whose B is singular, report no eigenvalues).
//!
//! The chain at K = 0.5 with decimation b = 2: level 1 carries tanh K′ = tanh² K.
//!
//! ```
//! use blockspin::backend::{self, ChainSpec, Kernel, LatticeBackend, Start};
//! use blockspin::lattice::{Lattice, LatticeKind};
//! use blockspin::mcrg::{self, McrgSettings, SamplingPlan};
//! use blockspin::model::{Algorithm, Model, Units};
//! use blockspin::rg::rules::Rule;
//!
//! let model = Model::new(Lattice::new(LatticeKind::Chain, 128)?, Units::Spin, 0.5, 1.0, 0.0)?;
//! let spec = ChainSpec::new(model, Algorithm::HeatBath, 8, 42, Start::Hot)?;
//! let mut sampler = backend::open(LatticeBackend::Cpu, Kernel::Auto, spec, &mut |_| {})?;
//! let settings = McrgSettings::new(LatticeKind::Chain, 128, 2, 2, Rule::Decimation, 1)?;
//! let plan = SamplingPlan { thermalize: 50, measurements: 200, measure_every: 5 };
//! let report = mcrg::sample(sampler.as_mut(), &model, plan, &settings)?;
//! let k1 = report.levels[1].couplings.as_ref().unwrap().get("nn").unwrap();
//! let exact = (0.5f64.tanh().powi(2)).atanh();
//! assert!(k1.error > 0.0 && ((k1.mean - exact) / k1.error).abs() < 5.0);
//! # Ok::<(), blockspin::Error>(())
//! ```

pub mod blocking;
pub mod checkpoint;
pub mod couplings;
pub mod exponents;
pub mod gpu;
pub mod operators;
pub mod plot;
pub mod stencil;

use crate::backend::{BackendInfo, Sampler};
use crate::error::{Error, Result};
use crate::lattice::LatticeKind;
use crate::model::Model;
use crate::rg::rules::Rule;
use crate::stats::Jackknife;
use blocking::Blocker;
use couplings::{CallenHistogram, MAX_BASIS, MAX_LOCAL_FIELD};
use exponents::{Exponent, Moments};
use operators::{Operator, OperatorTable, Torus};
use rayon::prelude::*;
use serde::{Serialize, Serializer};
use stencil::Stencil;

/// The results schema.
pub const SCHEMA: &str = "blockspin/mcrg/1";
/// Default number of jackknife groups (the configurations end in between this and twice
/// as many groups of equal length).
pub const DEFAULT_GROUPS: usize = 32;
/// Configurations processed together (in parallel).
const BATCH: usize = 64;

/// What to do with the configurations.
#[derive(Clone, Debug, PartialEq)]
pub struct McrgSettings {
    /// Lattice family (chain, square, cubic).
    pub lattice: LatticeKind,
    /// Linear size L of the fine lattice.
    pub size: u32,
    /// Block side b.
    pub block: u32,
    /// Blocking levels n ≥ 1.
    pub levels: u32,
    /// The rule.
    pub rule: Rule,
    /// Seed of the majority coins and stochastic draws.
    pub seed: u64,
    /// Coupling basis (operator names; `field` is the magnetization).
    pub basis: Vec<String>,
    /// Jackknife groups (at least 2).
    pub groups: usize,
    /// Operators of the even list used (its first N; None: all), the largest truncation
    /// of the even exponents.
    pub even_operators: Option<usize>,
    /// Operators of the odd list used (its first N; None: all).
    pub odd_operators: Option<usize>,
}

impl McrgSettings {
    /// Settings with the default basis ([`operators::default_basis`]) and
    /// [`DEFAULT_GROUPS`] groups, validated.
    ///
    /// # Errors
    /// See [`McrgSettings::validate`].
    pub fn new(
        lattice: LatticeKind,
        size: u32,
        block: u32,
        levels: u32,
        rule: Rule,
        seed: u64,
    ) -> Result<Self> {
        let s = McrgSettings {
            lattice,
            size,
            block,
            levels,
            rule,
            seed,
            basis: operators::default_basis(lattice)
                .into_iter()
                .map(String::from)
                .collect(),
            groups: DEFAULT_GROUPS,
            even_operators: None,
            odd_operators: None,
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `lattice` (triangular), `levels` (0, or
    /// L / b^levels < 2), `block`, `lambda`, `basis` (unknown or repeated names, more than
    /// [`MAX_BASIS`]) or `jackknife-blocks` (< 2).
    pub fn validate(&self) -> Result<()> {
        let torus = Torus::new(self.lattice, self.size)?;
        if self.levels == 0 {
            return Err(Error::invalid("levels", "must be at least 1 (got 0)"));
        }
        let mut t = torus;
        for n in 1..=self.levels {
            let b = Blocker::new(t, self.block, self.rule.clone(), self.seed)?;
            t = b.coarse();
            if t.size < 2 {
                return Err(Error::invalid(
                    "levels",
                    format!(
                        "level {n} would leave a coarse lattice of size {} (size {} / block {}^{n}); at least 2 is needed",
                        t.size, self.size, self.block
                    ),
                ));
            }
        }
        if self.basis.is_empty() || self.basis.len() > MAX_BASIS {
            return Err(Error::invalid(
                "basis",
                format!("give 1 to {MAX_BASIS} operators (got {})", self.basis.len()),
            ));
        }
        let ops: Vec<Operator> = self
            .basis
            .iter()
            .map(|n| operators::find(self.lattice, n))
            .collect::<Result<_>>()?;
        for (i, o) in ops.iter().enumerate() {
            if ops[..i].iter().any(|p| p.name == o.name) {
                return Err(Error::invalid(
                    "basis",
                    format!("`{}` is named twice", self.basis[i]),
                ));
            }
        }
        for (param, n, list) in [
            (
                "even-operators",
                self.even_operators,
                operators::even(self.lattice)?,
            ),
            (
                "odd-operators",
                self.odd_operators,
                operators::odd(self.lattice)?,
            ),
        ] {
            if let Some(n) = n.filter(|&n| n == 0 || n > list.len()) {
                let names: Vec<&str> = list.iter().map(|o| o.name).collect();
                return Err(Error::invalid(
                    param,
                    format!(
                        "must be from 1 to {} (got {n}): the {} list is {}",
                        list.len(),
                        self.lattice,
                        names.join(", ")
                    ),
                ));
            }
        }
        if self.groups < 2 {
            return Err(Error::invalid(
                "jackknife-blocks",
                format!("must be at least 2 (got {})", self.groups),
            ));
        }
        Ok(())
    }

    /// Coarse size at level n.
    pub fn coarse_size(&self, level: u32) -> u32 {
        self.size / self.block.pow(level)
    }
}

/// One group of consecutive configurations.
#[derive(Clone, Debug)]
struct Group {
    moments: Moments,
    callen: Vec<CallenHistogram>,
}

impl Group {
    fn merge(&mut self, o: &Group) {
        self.moments.merge(&o.moments);
        for (a, b) in self.callen.iter_mut().zip(&o.callen) {
            a.merge(b);
        }
    }
}

/// One level's local-field histogram of one configuration.
#[derive(Clone, Debug, PartialEq)]
pub enum LevelCallen {
    /// No couplings at this level.
    None,
    /// Dense bins ([`stencil`] module docs).
    Dense(Vec<u32>),
    /// A hash map (bases with too many bins).
    Sparse(CallenHistogram),
}

/// What one configuration contributes: every level's operator sums and local-field
/// histogram ([`Mcrg::analyze`] on the CPU, [`gpu::DeviceMcrg::analyze`] on the device).
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    /// S_α of every level (even then odd operators), level-major.
    pub sums: Vec<f64>,
    /// Per level, the configuration's local-field histogram (built in the parallel part:
    /// the serial accumulation then merges a few hundred patterns, not every site).
    pub callen: Vec<LevelCallen>,
}

/// How a level's operator sums are computed: row-wise stencils where every operator is
/// regular, instance lists on the small tori where some fold.
#[derive(Clone, Debug)]
enum Sums {
    Stencil(Stencil),
    Table(OperatorTable),
}

/// One level's torus and tables.
#[derive(Clone, Debug)]
pub struct Level {
    /// The torus.
    pub torus: Torus,
    sums: Sums,
    /// Leading even and odd operators well defined here ([`stencil::regular_prefix`]).
    defined: (usize, usize),
    /// The basis stencil where the whole basis is well defined (couplings estimated).
    pub basis: Option<Stencil>,
}

impl Level {
    fn new(torus: Torus, even: &[Operator], odd: &[Operator], basis: &[Operator]) -> Self {
        let all: Vec<Operator> = even.iter().chain(odd).copied().collect();
        Level {
            torus,
            sums: if stencil::all_regular(&torus, &all) {
                Sums::Stencil(Stencil::new(torus, &all))
            } else {
                Sums::Table(OperatorTable::new(torus, &all))
            },
            defined: (
                stencil::regular_prefix(&torus, even),
                stencil::regular_prefix(&torus, odd),
            ),
            basis: (stencil::regular_prefix(&torus, basis) == basis.len())
                .then(|| Stencil::new(torus, basis)),
        }
    }

    /// S_α of the level's even then odd operators.
    pub fn sums(&self, x: &[i8]) -> Vec<i64> {
        match &self.sums {
            Sums::Stencil(s) => s.sums(x),
            Sums::Table(t) => t.sums(x).into_iter().map(|v| v as i64).collect(),
        }
    }

    fn callen(&self, x: &[i8]) -> LevelCallen {
        match &self.basis {
            None => LevelCallen::None,
            Some(b) => match b.bins() {
                Some(bins) => {
                    let mut h = vec![0u32; bins];
                    b.histogram(x, &mut h);
                    LevelCallen::Dense(h)
                }
                None => {
                    let mut h = CallenHistogram::default();
                    b.histogram_sparse(x, &mut h);
                    LevelCallen::Sparse(h)
                }
            },
        }
    }
}

/// The accumulator: feed configurations with [`Mcrg::add`], then [`Mcrg::finish`].
pub struct Mcrg {
    settings: McrgSettings,
    blockers: Vec<Blocker>,
    /// Levels 0 (the fine lattice) to n.
    levels: Vec<Level>,
    even_names: Vec<&'static str>,
    odd_names: Vec<&'static str>,
    /// Operators per level in the vector of sums (even then odd).
    per_level: usize,
    shift: Option<Vec<f64>>,
    groups: Vec<Group>,
    group_length: u64,
    configurations: u64,
}

impl Mcrg {
    /// An empty accumulator.
    ///
    /// # Errors
    /// Those of [`McrgSettings::validate`]; [`Error::InvalidParameter`] naming `basis` when
    /// a local field could exceed [`MAX_LOCAL_FIELD`].
    pub fn new(settings: &McrgSettings) -> Result<Self> {
        settings.validate()?;
        let kind = settings.lattice;
        let mut even_ops = operators::even(kind)?;
        let mut odd_ops = operators::odd(kind)?;
        even_ops.truncate(settings.even_operators.unwrap_or(usize::MAX));
        odd_ops.truncate(settings.odd_operators.unwrap_or(usize::MAX));
        let basis_ops: Vec<Operator> = settings
            .basis
            .iter()
            .map(|n| operators::find(kind, n))
            .collect::<Result<_>>()?;
        let mut tori = vec![Torus::new(kind, settings.size)?];
        let mut blockers = Vec::new();
        for _ in 0..settings.levels {
            let b = Blocker::new(
                *tori.last().unwrap(),
                settings.block,
                settings.rule.clone(),
                settings.seed,
            )?;
            tori.push(b.coarse());
            blockers.push(b);
        }
        let levels: Vec<Level> = tori
            .par_iter()
            .map(|t| Level::new(*t, &even_ops, &odd_ops, &basis_ops))
            .collect();
        for l in &levels {
            if let Some(st) = &l.basis {
                for (o, &c) in basis_ops.iter().zip(&st.counts()) {
                    if c > MAX_LOCAL_FIELD as u32 {
                        return Err(Error::invalid(
                            "basis",
                            format!("`{}` has too many instances per site", o.name),
                        ));
                    }
                }
            }
        }
        Ok(Mcrg {
            settings: settings.clone(),
            levels,
            even_names: even_ops.iter().map(|o| o.name).collect(),
            odd_names: odd_ops.iter().map(|o| o.name).collect(),
            per_level: even_ops.len() + odd_ops.len(),
            blockers,
            shift: None,
            groups: Vec::new(),
            group_length: 1,
            configurations: 0,
        })
    }

    /// Configurations added so far.
    pub fn configurations(&self) -> u64 {
        self.configurations
    }

    /// What configuration x0 (±1, checked by the caller) numbered `configuration`
    /// contributes.
    pub fn analyze(&self, x0: &[i8], configuration: u32) -> Contribution {
        let mut sums = Vec::with_capacity(self.per_level * self.levels.len());
        let mut callen = Vec::with_capacity(self.levels.len());
        let mut x = x0.to_vec();
        for (n, level) in self.levels.iter().enumerate() {
            if n > 0 {
                x = self.blockers[n - 1].block(&x, configuration, n as u32);
            }
            sums.extend(level.sums(&x).into_iter().map(|v| v as f64));
            callen.push(level.callen(&x));
        }
        Contribution { sums, callen }
    }

    fn new_group(&self) -> Group {
        Group {
            moments: Moments::new(self.per_level * self.levels.len()),
            callen: vec![CallenHistogram::default(); self.levels.len()],
        }
    }

    fn push(&mut self, c: Contribution) {
        let shift = self.shift.get_or_insert_with(|| c.sums.clone());
        let v: Vec<f64> = c
            .sums
            .iter()
            .zip(shift.iter())
            .map(|(a, s)| a - s)
            .collect();
        let full = self
            .groups
            .last()
            .is_none_or(|g| g.moments.n as u64 >= self.group_length);
        if full {
            if self.groups.len() == 2 * self.settings.groups {
                // merge neighbours: groups of twice the length
                let old = std::mem::take(&mut self.groups);
                for pair in old.chunks(2) {
                    let mut g = pair[0].clone();
                    if let Some(o) = pair.get(1) {
                        g.merge(o);
                    }
                    self.groups.push(g);
                }
                self.group_length *= 2;
            }
            if self
                .groups
                .last()
                .is_none_or(|g| g.moments.n as u64 >= self.group_length)
            {
                let g = self.new_group();
                self.groups.push(g);
            }
        }
        let g = self.groups.last_mut().unwrap();
        g.moments.add(&v);
        for ((h, own), level) in g.callen.iter_mut().zip(&c.callen).zip(&self.levels) {
            match (own, &level.basis) {
                (LevelCallen::Dense(d), Some(st)) => st.merge_dense(d, h),
                (LevelCallen::Sparse(o), _) => h.merge(o),
                _ => {}
            }
        }
        self.configurations += 1;
    }

    /// Adds configurations numbered `first`, `first + 1`, … (the number keys the blocking's
    /// random words), each ±1 with L^d entries, in parallel.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `configurations` for a wrong length or a value
    /// other than ±1; [`Error::Interrupted`] on a stop request.
    pub fn add_batch(&mut self, first: u32, configurations: &[&[i8]]) -> Result<()> {
        crate::interrupt::check()?;
        self.add_batch_now(first, configurations)
    }

    /// [`Mcrg::add_batch`] without the stop check (the measurement a checkpoint ends on).
    fn add_batch_now(&mut self, first: u32, configurations: &[&[i8]]) -> Result<()> {
        let n = self.levels[0].torus.sites();
        for c in configurations {
            if c.len() != n {
                return Err(Error::invalid(
                    "configurations",
                    format!("a configuration has {} sites; the lattice has {n}", c.len()),
                ));
            }
            if c.iter().any(|&v| v != 1 && v != -1) {
                return Err(Error::invalid(
                    "configurations",
                    "spins must be ±1 (map 0/1 units by x = 2v − 1)",
                ));
            }
        }
        let contributions: Vec<Contribution> = configurations
            .par_iter()
            .enumerate()
            .map(|(k, x)| self.analyze(x, first.wrapping_add(k as u32)))
            .collect();
        for c in contributions {
            self.push(c);
        }
        Ok(())
    }

    /// Adds one configuration (numbered by the count so far).
    ///
    /// # Errors
    /// As [`Mcrg::add_batch`].
    pub fn add(&mut self, configuration: &[i8]) -> Result<()> {
        self.add_batch(self.configurations as u32, &[configuration])
    }

    /// The exponents and couplings of the configurations added.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `configurations` when fewer than 2 were added, or
    /// naming `basis` when Newton's method fails on Callen's equations at some level.
    pub fn finish(self, info: RunInfo) -> Result<McrgReport> {
        if self.configurations < 2 {
            return Err(Error::invalid(
                "configurations",
                format!("at least 2 are needed (got {})", self.configurations),
            ));
        }
        let s = &self.settings;
        let b = s.block as f64;
        let n_even = self.even_names.len();
        let moments: Vec<Moments> = self.groups.iter().map(|g| g.moments.clone()).collect();
        let mut levels = Vec::new();
        for level in 0..=s.levels as usize {
            crate::interrupt::check()?;
            let exponents = (level > 0).then(|| {
                let idx = |l: usize, k: usize| l * self.per_level + k;
                let sector = |range: std::ops::Range<usize>, defined: fn(&Level) -> usize| {
                    let coarse: Vec<usize> = range.clone().map(|k| idx(level, k)).collect();
                    let fine: Vec<usize> = range.map(|k| idx(level - 1, k)).collect();
                    let defined =
                        defined(&self.levels[level]).min(defined(&self.levels[level - 1]));
                    let mut e = exponents::sector_exponents(
                        &moments,
                        &coarse[..defined],
                        &fine[..defined],
                        b,
                    );
                    e.extend((defined + 1..=coarse.len()).map(|k| Exponent {
                        operators: k,
                        eigenvalues: Vec::new(),
                        imaginary: None,
                        y: None,
                        error: None,
                    }));
                    e
                };
                SectorExponents {
                    even: sector(0..n_even, |l| l.defined.0),
                    odd: sector(n_even..self.per_level, |l| l.defined.1),
                }
            });
            let couplings = match &self.levels[level].basis {
                Some(_) => {
                    let hist: Vec<CallenHistogram> = self
                        .groups
                        .iter()
                        .map(|g| g.callen[level].clone())
                        .collect();
                    let k = couplings::estimate(&hist, s.basis.len(), &format!("level {level}"))?;
                    Some(Couplings(s.basis.iter().cloned().zip(k).collect()))
                }
                None => None,
            };
            levels.push(LevelReport {
                level: level as u32,
                coarse_size: s.coarse_size(level as u32),
                exponents,
                couplings,
            });
        }
        let reference = reference(s, info.sampling.as_ref());
        Ok(McrgReport {
            schema: SCHEMA,
            parameters: McrgParameters {
                lattice: s.lattice,
                size: s.size,
                block: s.block,
                levels: s.levels,
                rule: s.rule.name(),
                lambda: match self.blockers[0].rule() {
                    Rule::Stochastic(l) => Some(l.clone()),
                    _ => None,
                },
                seed: s.seed,
                basis: s.basis.clone(),
                configurations: self.configurations,
                jackknife_blocks: self.groups.len(),
                sampling: info.sampling,
            },
            backend: info.backend,
            operators: OperatorNames {
                even: self.even_names.iter().map(|n| n.to_string()).collect(),
                odd: self.odd_names.iter().map(|n| n.to_string()).collect(),
            },
            levels,
            reference,
        })
    }
}

/// Where the configurations came from (recorded in the report).
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// The sampler's backend.
    pub backend: Option<BackendInfo>,
    /// The sampling run.
    pub sampling: Option<SamplingParameters>,
}

/// The report, schema `blockspin/mcrg/1`.
#[derive(Clone, Debug, Serialize)]
pub struct McrgReport {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// What was done.
    pub parameters: McrgParameters,
    /// The sampler's backend, when sampled here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendInfo>,
    /// The operator lists.
    pub operators: OperatorNames,
    /// Level 0 (couplings only) … `levels`.
    pub levels: Vec<LevelReport>,
    /// Exact and reference values.
    pub reference: Reference,
}

/// The parameters of a report.
#[derive(Clone, Debug, Serialize)]
pub struct McrgParameters {
    /// Lattice family.
    pub lattice: LatticeKind,
    /// Fine size L.
    pub size: u32,
    /// Block side b.
    pub block: u32,
    /// Levels.
    pub levels: u32,
    /// Rule name.
    pub rule: &'static str,
    /// Stochastic weights, one per block site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambda: Option<Vec<f64>>,
    /// Seed of the blocking's random words.
    pub seed: u64,
    /// Coupling basis.
    pub basis: Vec<String>,
    /// Configurations used.
    pub configurations: u64,
    /// Jackknife groups.
    pub jackknife_blocks: usize,
    /// The sampling run, when sampled here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling: Option<SamplingParameters>,
}

/// The sampling run behind a report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SamplingParameters {
    /// β.
    pub beta: f64,
    /// J.
    pub coupling: f64,
    /// h.
    pub field: f64,
    /// Units (`spin`, `bernoulli`).
    pub units: String,
    /// The spin-language nearest-neighbour coupling K of −βH (x = 2v − 1 for 0/1 units).
    #[serde(rename = "K")]
    pub k: f64,
    /// The spin-language field H of −βH.
    #[serde(rename = "H")]
    pub h: f64,
    /// Chains.
    pub chains: u32,
    /// Thermalization sweeps.
    pub thermalize: u32,
    /// Measurements per chain.
    pub measurements: u32,
    /// Sweeps between measurements.
    pub measure_every: u32,
    /// Where blocking and operator sums ran: `device` (the GPU sampler's kernels,
    /// [`gpu`]) or `host` (configurations read back).
    pub analysis: &'static str,
}

/// Operator names of both sectors, in order.
#[derive(Clone, Debug, Serialize)]
pub struct OperatorNames {
    /// Even sector.
    pub even: Vec<String>,
    /// Odd sector.
    pub odd: Vec<String>,
}

/// One level.
#[derive(Clone, Debug, Serialize)]
pub struct LevelReport {
    /// n (0: the fine lattice).
    pub level: u32,
    /// L / bⁿ.
    pub coarse_size: u32,
    /// Exponents (levels ≥ 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exponents: Option<SectorExponents>,
    /// Couplings of the basis (where it is well defined, see the module docs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub couplings: Option<Couplings>,
}

/// Exponents per sector and truncation.
#[derive(Clone, Debug, Serialize)]
pub struct SectorExponents {
    /// Truncations 1 … of the even list.
    pub even: Vec<Exponent>,
    /// Truncations 1 … of the odd list.
    pub odd: Vec<Exponent>,
}

/// Couplings in basis order, written as a map {name: {mean, error}}.
#[derive(Clone, Debug, PartialEq)]
pub struct Couplings(pub Vec<(String, Jackknife)>);

impl Couplings {
    /// The coupling called `name`.
    pub fn get(&self, name: &str) -> Option<Jackknife> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, j)| *j)
    }
}

impl Serialize for Couplings {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Reference values: the exponents of the lattice's universality class and, for the chain
/// with decimation at zero field, the exact nearest-neighbour coupling of every level.
#[derive(Clone, Debug, Serialize)]
pub struct Reference {
    /// Thermal exponent y_T.
    #[serde(rename = "y_T", skip_serializing_if = "Option::is_none")]
    pub y_t: Option<f64>,
    /// Magnetic exponent y_H.
    #[serde(rename = "y_H", skip_serializing_if = "Option::is_none")]
    pub y_h: Option<f64>,
    /// Where the values come from.
    pub source: String,
    /// Chain, decimation, H = 0: K⁽ⁿ⁾ with tanh K⁽ⁿ⁾ = tanh^{bⁿ} K, levels 0 … .
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nn: Option<Vec<f64>>,
}

fn reference(s: &McrgSettings, sampling: Option<&SamplingParameters>) -> Reference {
    match s.lattice {
        LatticeKind::Square => Reference {
            y_t: Some(1.0),
            y_h: Some(15.0 / 8.0),
            source: "2D Ising exact (at K_c = ln(1+√2)/2)".into(),
            nn: None,
        },
        LatticeKind::Cubic => Reference {
            y_t: Some(1.0 / 0.629971),
            y_h: Some((5.0 - 0.0362978) / 2.0),
            source: "3D Ising, conformal bootstrap (Kos, Poland, Simmons-Duffin, Vichi 2016), at K_c = 0.221654626".into(),
            nn: None,
        },
        _ => {
            let nn = sampling.filter(|p| p.h == 0.0 && s.rule == Rule::Decimation).map(|p| {
                (0..=s.levels)
                    .map(|n| p.k.tanh().powi(s.block.pow(n) as i32).atanh())
                    .collect()
            });
            Reference {
                y_t: None,
                y_h: None,
                source: "1D Ising: no finite-K fixed point; decimation gives tanh K' = tanh^b K exactly".into(),
                nn,
            }
        }
    }
}

/// Runs MCRG over configurations (±1, L^d each), numbered 0, 1, … in order.
///
/// # Errors
/// Those of [`Mcrg::new`], [`Mcrg::add_batch`] and [`Mcrg::finish`].
pub fn run<'a>(
    settings: &McrgSettings,
    configurations: impl IntoIterator<Item = &'a [i8]>,
    info: Option<RunInfo>,
) -> Result<McrgReport> {
    let mut m = Mcrg::new(settings)?;
    let mut batch: Vec<&[i8]> = Vec::with_capacity(BATCH);
    for c in configurations {
        batch.push(c);
        if batch.len() == BATCH {
            m.add_batch(m.configurations() as u32, &batch)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        m.add_batch(m.configurations() as u32, &batch)?;
    }
    m.finish(info.unwrap_or_default())
}

/// How to sample for [`sample`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SamplingPlan {
    /// Sweeps before the first measurement.
    pub thermalize: u32,
    /// Measurements (every chain's configuration is used at each).
    pub measurements: u32,
    /// Sweeps between measurements (≥ 1).
    pub measure_every: u32,
}

/// Draws configurations with `sampler` (of `model`, on the settings' lattice): thermalize,
/// then `measurements` times advance `measure_every` sweeps and feed every chain's
/// configuration (x = 2v − 1), numbered `measurement × chains + chain`.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `lattice`/`size` when the model's lattice differs from
/// the settings', `measure-every` or `measurements` when 0; the sampler's errors; those of
/// [`Mcrg`].
pub fn sample(
    sampler: &mut dyn Sampler,
    model: &Model,
    plan: SamplingPlan,
    settings: &McrgSettings,
) -> Result<McrgReport> {
    sample_with(sampler, model, plan, settings, None)
}

/// [`sample`] with checkpoints: written every `every_seconds` at a measurement (or
/// thermalization step) boundary and when a stop is requested (the run then still ends
/// with [`Error::Interrupted`]); with `resume`, the run continues that checkpoint and gives
/// the report of the uninterrupted run.
///
/// # Errors
/// Those of [`sample`]; [`Error::InvalidParameter`] naming `resume` when the checkpoint
/// belongs to another run, or `sweeps` when it holds more measurements than the plan.
pub fn sample_with(
    sampler: &mut dyn Sampler,
    model: &Model,
    plan: SamplingPlan,
    settings: &McrgSettings,
    mut checkpoint: Option<checkpoint::CheckpointPlan>,
) -> Result<McrgReport> {
    if model.lattice.kind() != settings.lattice || model.lattice.size() != settings.size {
        return Err(Error::invalid(
            "lattice",
            format!(
                "the sampler's lattice ({} of size {}) is not the settings' ({} of size {})",
                model.lattice.kind(),
                model.lattice.size(),
                settings.lattice,
                settings.size
            ),
        ));
    }
    if plan.measure_every == 0 {
        return Err(Error::invalid(
            "measure-every",
            "must be at least 1 (got 0)",
        ));
    }
    if plan.measurements == 0 {
        return Err(Error::invalid("measurements", "must be at least 1 (got 0)"));
    }
    let mut m = Mcrg::new(settings)?;
    let n = model.lattice.sites() as usize;
    // on a GPU sampler the analysis runs there (gpu module docs), else configurations are
    // read back
    let mut device = match sampler.device_state() {
        Some(state) => gpu::DeviceMcrg::new(state, &m)?,
        None => None,
    };
    let chains = match sampler.device_state() {
        Some(state) => state.spec.chains,
        None => (sampler.configurations()?.len() / n) as u32,
    };
    let mut start = 0u32;
    if let Some(c) = checkpoint.as_mut().and_then(|c| c.resume.take()) {
        let cp = checkpoint.as_ref().expect("a checkpoint plan");
        let h = c.header;
        if h.identity != cp.identity {
            return Err(Error::invalid(
                "resume",
                "the checkpoint belongs to another run (settings, model or sampling differ)",
            ));
        }
        if c.bits.len() != chains as usize * n {
            return Err(Error::invalid(
                "resume",
                "the checkpoint's state does not fit the chains",
            ));
        }
        if h.measurements_done > plan.measurements {
            return Err(Error::invalid(
                "sweeps",
                format!(
                    "the checkpoint holds {} measurements; give at least {} sweeps",
                    h.measurements_done,
                    h.measurements_done as u64 * plan.measure_every as u64
                ),
            ));
        }
        sampler.restore(&c.bits, h.sweeps_done)?;
        m.restore(h.accumulator, "the checkpoint")?;
        start = h.measurements_done;
    }
    let done = sampler.sweeps_done();
    let save = |sampler: &mut dyn Sampler, m: &Mcrg, measurements: u32| -> Result<()> {
        let Some(cp) = &checkpoint else { return Ok(()) };
        checkpoint::McrgCheckpoint {
            header: checkpoint::Header {
                version: env!("CARGO_PKG_VERSION").to_string(),
                identity: cp.identity.clone(),
                sweeps_done: sampler.sweeps_done(),
                measurements_done: measurements,
                accumulator: m.state(),
            },
            bits: sampler.configurations()?,
        }
        .write(&cp.path)
    };
    let every = checkpoint.as_ref().map(|c| {
        std::time::Duration::try_from_secs_f64(c.every_seconds).unwrap_or(std::time::Duration::MAX)
    });
    let mut last = std::time::Instant::now();
    let mut due = || {
        every.is_some_and(|e| last.elapsed() >= e) && {
            last = std::time::Instant::now();
            true
        }
    };
    let task = crate::interrupt::Task::new(
        "sweeps",
        plan.thermalize as u64 + plan.measurements as u64 * plan.measure_every as u64,
    );
    task.advance(done as u64)?;
    if start == 0 {
        sampler.set_thermalizing(true);
        let mut left = plan.thermalize.saturating_sub(done);
        while left > 0 {
            let step = left.min(plan.measure_every.max(10));
            sampler.advance(step, 0)?;
            left -= step;
            if let Err(e) = task.advance(step as u64) {
                save(sampler, &m, 0)?;
                return Err(e);
            }
            if due() {
                save(sampler, &m, 0)?;
            }
        }
    }
    sampler.set_thermalizing(false);
    for meas in start..plan.measurements {
        sampler.advance(plan.measure_every, 0)?;
        let stop = task.advance(plan.measure_every as u64);
        let first = meas.wrapping_mul(chains);
        if let Some(d) = &mut device {
            let c = d.analyze(first)?;
            for c in c {
                m.push(c);
            }
        } else {
            let bits = sampler.configurations()?;
            let spins: Vec<i8> = bits.iter().map(|&b| 2 * b as i8 - 1).collect();
            let configs: Vec<&[i8]> = spins.chunks_exact(n).collect();
            m.add_batch_now(first, &configs)?;
        }
        if let Err(e) = stop {
            save(sampler, &m, meas + 1)?;
            return Err(e);
        }
        if due() {
            save(sampler, &m, meas + 1)?;
        }
    }
    let analysis = if device.is_some() { "device" } else { "host" };
    let (k, h) = model.spin_couplings();
    m.finish(RunInfo {
        backend: Some(sampler.info()),
        sampling: Some(SamplingParameters {
            beta: model.beta,
            coupling: model.coupling,
            field: model.field,
            units: model.units.name().to_string(),
            k,
            h,
            chains,
            thermalize: plan.thermalize,
            measurements: plan.measurements,
            measure_every: plan.measure_every,
            analysis,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(c: u32, n: usize) -> Vec<i8> {
        let key = crate::rng::seed_key(3);
        (0..n as u32)
            .map(|i| {
                if crate::rng::philox4x32_10([i, c, 0, 97], key)[0] >> 31 == 1 {
                    1
                } else {
                    -1
                }
            })
            .collect()
    }

    #[test]
    fn settings_are_checked() {
        let ok = McrgSettings::new(LatticeKind::Square, 16, 2, 3, Rule::Majority, 1).unwrap();
        assert_eq!(ok.coarse_size(3), 2);
        let e = |r: Result<McrgSettings>| match r.unwrap_err() {
            Error::InvalidParameter { param, .. } => param,
            other => panic!("{other}"),
        };
        assert_eq!(
            e(McrgSettings::new(
                LatticeKind::Square,
                16,
                2,
                4,
                Rule::Majority,
                1
            )),
            "levels"
        );
        assert_eq!(
            e(McrgSettings::new(
                LatticeKind::Square,
                16,
                2,
                0,
                Rule::Majority,
                1
            )),
            "levels"
        );
        assert_eq!(
            e(McrgSettings::new(
                LatticeKind::Square,
                18,
                4,
                1,
                Rule::Majority,
                1
            )),
            "block"
        );
        assert_eq!(
            e(McrgSettings::new(
                LatticeKind::Triangular,
                18,
                3,
                1,
                Rule::Majority,
                1
            )),
            "lattice"
        );
        assert_eq!(
            e(McrgSettings::new(
                LatticeKind::Chain,
                16,
                2,
                1,
                Rule::Stochastic(vec![1.0; 3]),
                1
            )),
            "lambda"
        );
        let mut s = ok.clone();
        s.basis = vec!["nn".into(), "plaquette".into(), "nn".into()];
        assert!(s.validate().is_err());
        s.basis = vec!["nn".into(), "hexagon".into()];
        assert!(s.validate().is_err());
        s.basis = vec!["nn".into()];
        s.groups = 1;
        assert!(s.validate().is_err());
    }

    #[test]
    fn groups_merge_to_equal_lengths() {
        let mut s = McrgSettings::new(LatticeKind::Chain, 8, 2, 1, Rule::Majority, 1).unwrap();
        s.groups = 4;
        let mut m = Mcrg::new(&s).unwrap();
        for c in 0..1000 {
            m.add(&ring(c, 8)).unwrap();
        }
        assert!((4..=8).contains(&m.groups.len()), "{}", m.groups.len());
        let n: Vec<f64> = m.groups.iter().map(|g| g.moments.n).collect();
        assert_eq!(n.iter().sum::<f64>(), 1000.0);
        assert!(
            n[..n.len() - 1].iter().all(|&x| x == m.group_length as f64),
            "{n:?}"
        );
    }

    #[test]
    fn bad_configurations_and_frozen_data_are_refused() {
        let s = McrgSettings::new(LatticeKind::Chain, 8, 2, 1, Rule::Majority, 1).unwrap();
        let mut m = Mcrg::new(&s).unwrap();
        assert!(m.add(&[1; 7]).is_err());
        assert!(m.add(&[1, 0, 1, 1, 1, 1, 1, 1]).is_err());
        assert!(Mcrg::new(&s).unwrap().finish(RunInfo::default()).is_err());
        // all spins up: Callen's equations have no finite solution
        let up = vec![1i8; 8];
        let e = run(&s, std::iter::repeat_n(up.as_slice(), 10), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("level 0") && e.contains("Callen"), "{e}");
    }

    #[test]
    fn report_schema() {
        let s = McrgSettings::new(LatticeKind::Chain, 16, 2, 2, Rule::Decimation, 1).unwrap();
        let configs: Vec<Vec<i8>> = (0..200).map(|c| ring(c, 16)).collect();
        let r = run(&s, configs.iter().map(|c| c.as_slice()), None).unwrap();
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["schema"], SCHEMA);
        assert_eq!(j["parameters"]["configurations"], 200);
        assert_eq!(j["operators"]["even"][0], "nn");
        assert_eq!(j["levels"][1]["coarse_size"], 8);
        assert!(j["levels"][0].get("exponents").is_none());
        assert!(
            j["levels"][1]["couplings"]["field"]["error"]
                .as_f64()
                .unwrap()
                > 0.0
        );
        // a 4-ring: nnn counted once per pair, 3rd = nn; no couplings, even truncations ≥ 2 empty
        assert!(j["levels"][2].get("couplings").is_none());
        let even = &j["levels"][2]["exponents"]["even"];
        assert!(even[0]["y"].is_f64());
        assert!(even[1]["y"].is_null() && even[1]["eigenvalues"].as_array().unwrap().is_empty());
        let odd = &j["levels"][1]["exponents"]["odd"];
        assert_eq!(odd.as_array().unwrap().len(), 3);
        assert_eq!(odd[0]["operators"], 1);
        // independent spins: every coupling is 0 within errors
        for l in &r.levels {
            if let Some(c) = &l.couplings {
                for (name, k) in &c.0 {
                    assert!(
                        (k.mean / k.error).abs() < 5.0,
                        "level {} {name}: {k:?}",
                        l.level
                    );
                }
            }
        }
    }
}
