//! WGSL sources. Every kernel family is composed from the files in `shaders/` by plain
//! concatenation (WGSL has no `#include`): shared pieces (`dispatch.wgsl` in every module,
//! `philox.wgsl`, `lattice.wgsl`) come first, so no code is repeated between kernels.
//! `tests/shaders.rs` validates every composed module with naga, and unit tests hold the
//! uniform blocks and shared constants to their Rust twins (`shaders::reflect`, test builds only).

/// `shaders/dispatch.wgsl`: the invocation index of a dispatch (every module).
pub const DISPATCH: &str = include_str!("../shaders/dispatch.wgsl");
/// `shaders/philox.wgsl`: Philox4x32-10.
pub const PHILOX: &str = include_str!("../shaders/philox.wgsl");
/// `shaders/lattice.wgsl`: parameters, bindings, lattice indexing.
pub const LATTICE: &str = include_str!("../shaders/lattice.wgsl");
/// `shaders/update.wgsl`: one colour of a sweep.
pub const UPDATE: &str = include_str!("../shaders/update.wgsl");
/// `shaders/planes.wgsl`: the lazy bit-plane decision of both packed layouts.
pub const PLANES: &str = include_str!("../shaders/planes.wgsl");
/// `shaders/update_sites.wgsl`: one colour of a site-packed sweep, and its measurement.
pub const UPDATE_SITES: &str = include_str!("../shaders/update_sites.wgsl");
/// `shaders/update_packed.wgsl`: one colour of a multi-spin coded sweep.
pub const UPDATE_PACKED: &str = include_str!("../shaders/update_packed.wgsl");
/// `shaders/update_rows.wgsl`: one colour of a sweep in the row-packed layout.
pub const UPDATE_ROWS: &str = include_str!("../shaders/update_rows.wgsl");
/// `shaders/cluster.wgsl`: Swendsen–Wang bonds, labelling, flips and cluster sums.
pub const CLUSTER: &str = include_str!("../shaders/cluster.wgsl");
/// `shaders/measure.wgsl`: per-chain integer observables.
pub const MEASURE: &str = include_str!("../shaders/measure.wgsl");
/// `shaders/dbm.wgsl`: deep Boltzmann machine block Gibbs kernels.
pub const DBM: &str = include_str!("../shaders/dbm.wgsl");
/// `shaders/rg.wgsl`: block-wise conditional sampling.
pub const RG: &str = include_str!("../shaders/rg.wgsl");
/// `shaders/mcrg.wgsl`: MCRG blocking, operator sums and local-field histograms.
pub const MCRG_KERNELS: &str = include_str!("../shaders/mcrg.wgsl");
/// `shaders/philox_test.wgsl`: Philox words for given counters (tests).
pub const PHILOX_TEST: &str = include_str!("../shaders/philox_test.wgsl");

/// A named shader module made of several source files.
pub struct ShaderModuleSource {
    /// Module name (label).
    pub name: &'static str,
    /// Source files, in order.
    pub parts: &'static [&'static str],
}

impl ShaderModuleSource {
    /// The concatenated source.
    pub fn source(&self) -> String {
        self.parts.join("\n")
    }
}

/// The lattice sampler: entry points `update` and `measure`.
pub const SAMPLER: ShaderModuleSource = ShaderModuleSource {
    name: "sampler",
    parts: &[DISPATCH, PHILOX, LATTICE, UPDATE, MEASURE],
};

/// The multi-spin coded lattice sampler: entry points `update_packed` and `measure`.
pub const PACKED_SAMPLER: ShaderModuleSource = ShaderModuleSource {
    name: "packed_sampler",
    parts: &[DISPATCH, PHILOX, LATTICE, PLANES, UPDATE_PACKED, MEASURE],
};

/// The site-packed lattice sampler (32 same-colour sites of one chain per word): entry
/// points `update_sites` and `measure_sites`.
pub const SITE_SAMPLER: ShaderModuleSource = ShaderModuleSource {
    name: "site_sampler",
    parts: &[DISPATCH, PHILOX, LATTICE, PLANES, UPDATE_SITES, MEASURE],
};

/// The row-packed lattice sampler (32 sites of a row per word, for lattices larger than
/// one storage binding): entry points `update_rows` and `measure`.
pub const ROW_SAMPLER: ShaderModuleSource = ShaderModuleSource {
    name: "row_sampler",
    parts: &[DISPATCH, PHILOX, LATTICE, UPDATE_ROWS, MEASURE],
};

/// Swendsen–Wang on the per-site layout: entry points `sw_union`, `measure`, `sw_init`,
/// `sw_flip`, `sw_sizes`, `sw_sums`.
pub const CLUSTER_SAMPLER: ShaderModuleSource = ShaderModuleSource {
    name: "cluster_sampler",
    parts: &[DISPATCH, PHILOX, LATTICE, CLUSTER, MEASURE],
};

/// Philox test kernel: entry point `philox_words`.
pub const PHILOX_WORDS: ShaderModuleSource = ShaderModuleSource {
    name: "philox_words",
    parts: &[DISPATCH, PHILOX, PHILOX_TEST],
};

/// DBM samplers: `dbm_hidden`, `dbm_outer`, `dbm_noise`, `dbm_hidden_reduced`,
/// `dbm_visible_pairwise`.
pub const DBM_SAMPLER: ShaderModuleSource = ShaderModuleSource {
    name: "dbm_sampler",
    parts: &[DISPATCH, PHILOX, DBM],
};

/// Block-spin RG: `rg_draw`.
pub const RG_SAMPLER: ShaderModuleSource = ShaderModuleSource {
    name: "rg_sampler",
    parts: &[DISPATCH, PHILOX, RG],
};

/// MCRG on the device: `mcrg_unpack`, `mcrg_block`, `mcrg_sums`, `mcrg_sums_listed`,
/// `mcrg_histogram`.
pub const MCRG: ShaderModuleSource = ShaderModuleSource {
    name: "mcrg",
    parts: &[DISPATCH, PHILOX, MCRG_KERNELS],
};

/// Every module the program builds.
pub const ALL: &[ShaderModuleSource] = &[
    SAMPLER,
    PACKED_SAMPLER,
    SITE_SAMPLER,
    ROW_SAMPLER,
    CLUSTER_SAMPLER,
    PHILOX_WORDS,
    DBM_SAMPLER,
    RG_SAMPLER,
    MCRG,
];

/// Reflection of the WGSL uniform blocks with naga, for the tests that hold each
/// `#[repr(C)]` Rust twin to the same size and member offsets.
#[cfg(test)]
pub(crate) mod reflect {
    use super::ShaderModuleSource;

    /// A struct's size and its members' (name, offset), padding members (`_pad*`) left out.
    pub type Layout = (u32, Vec<(String, u32)>);

    /// The layout of the uniform block at `@group(0) @binding(binding)` of `module`.
    pub fn uniform(module: &ShaderModuleSource, binding: u32) -> Layout {
        let m = naga::front::wgsl::parse_str(&module.source()).expect("the module parses");
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(m.to_ctx()).expect("layouts");
        let var = m
            .global_variables
            .iter()
            .map(|(_, v)| v)
            .find(|v| {
                v.space == naga::AddressSpace::Uniform
                    && v.binding
                        .as_ref()
                        .is_some_and(|b| b.group == 0 && b.binding == binding)
            })
            .expect("a uniform at that binding");
        match &m.types[var.ty].inner {
            naga::TypeInner::Struct { members, span } => (
                *span,
                members
                    .iter()
                    .filter_map(|x| x.name.clone().map(|n| (n, x.offset)))
                    .filter(|(n, _)| !n.starts_with("_pad"))
                    .collect(),
            ),
            other => panic!("binding {binding} is not a struct: {other:?}"),
        }
    }

    /// The value of the u32 constant `name` of `module`.
    pub fn constant(module: &ShaderModuleSource, name: &str) -> u32 {
        let m = naga::front::wgsl::parse_str(&module.source()).expect("the module parses");
        let (_, c) = m
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{}: no constant {name}", module.name));
        match m.global_expressions[c.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) => v,
            ref e => panic!("{}: {name} is not a u32 literal: {e:?}", module.name),
        }
    }

    /// The size and (name, offset) of the named fields of a Rust struct.
    macro_rules! rust_layout {
        ($t:ty; $($field:ident),* $(,)?) => {
            (
                std::mem::size_of::<$t>() as u32,
                vec![$((stringify!($field).to_string(), std::mem::offset_of!($t, $field) as u32)),*],
            )
        };
    }
    pub(crate) use rust_layout;
}
