//! How the chains' bits are laid out on the device, sized against the adapter's limits,
//! and converted to and from the CPU's one byte per site.

use super::*;

/// How the chains' bits are stored on the device (`layout` in shaders/lattice.wgsl).
/// Every layout draws the same random words, so all are bit-identical to each other and
/// to the CPU backend ([`Layout::ChainPacked`] to the multi-spin coded CPU backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One u32 word per site and chain (the reference kernels).
    PerSite,
    /// One word per site and group of 32 chains (multi-spin coding).
    ChainPacked,
    /// 32 same-colour sites of one chain per word ([`crate::backend::sites`]), one storage
    /// binding; bit-identical to [`crate::backend::sites::SitesCpuSampler`].
    SitePacked,
    /// 32 consecutive sites of a row per word, split over up to [`MAX_PARTS`] storage
    /// bindings of at most `part_bytes` each (`None`: the adapter's binding limit). For
    /// lattices whose per-site state exceeds one binding.
    RowPacked {
        /// Largest part in bytes (rounded down to a power of two words).
        part_bytes: Option<u64>,
    },
}

/// Most storage bindings the row-packed state is split over.
pub const MAX_PARTS: u64 = 4;

/// Where the state words live: `parts` buffers of `2^shift` words (the last may be
/// shorter); word i is word `i mod 2^shift` of part `i >> shift`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatePlan {
    /// Words per row (L, or ceil(L / 32) row-packed).
    pub row_words: u32,
    /// Chains, or groups of 32 chains in the chain-packed layout.
    pub groups: u64,
    /// Words per chain or group of 32 chains.
    pub chain_words: u64,
    /// All words.
    pub words: u64,
    /// log2 of the words per part.
    pub shift: u32,
    /// Words in each part.
    pub parts: Vec<u64>,
}

/// Bytes in words, with MiB or GiB where that is shorter.
pub(super) fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{b} bytes = {:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{b} bytes = {:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{b} bytes"),
    }
}

impl StatePlan {
    /// Plans the state of `spec` in `layout` for an adapter with `limits`, before anything
    /// is allocated.
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] with the bytes needed and the limit when the state does not
    /// fit.
    pub fn new(spec: &ChainSpec, layout: Layout, limits: &wgpu::Limits) -> Result<Self> {
        let lat = spec.model.lattice;
        let (rows, chains) = (lat.rows() as u64, spec.chains as u64);
        let (row_words, groups) = match layout {
            Layout::PerSite => (lat.size(), chains),
            Layout::ChainPacked => (lat.size(), chains.div_ceil(CHAINS_PER_WORD as u64)),
            Layout::RowPacked { .. } => (lat.size().div_ceil(32), chains),
            Layout::SitePacked => ((lat.size() / 2).div_ceil(32), chains),
        };
        // the site-packed layout: words per colour and chain (two colours)
        let chain_words = rows * row_words as u64;
        let words = groups * chain_words * if layout == Layout::SitePacked { 2 } else { 1 };
        let (limit_name, binding) =
            if limits.max_storage_buffer_binding_size < limits.max_buffer_size {
                (
                    "max_storage_buffer_binding_size",
                    limits.max_storage_buffer_binding_size,
                )
            } else {
                ("max_buffer_size", limits.max_buffer_size)
            };
        let bytes = 4 * words;
        match layout {
            Layout::PerSite | Layout::ChainPacked | Layout::SitePacked => {
                if bytes > binding {
                    return Err(Error::DeviceLimit(format!(
                        "the lattice state needs {} ({}) but the adapter's {limit_name} is {}; use {}fewer chains, a smaller size, or backend cpu",
                        human(bytes),
                        match layout {
                            Layout::PerSite => "a 4-byte word per site and chain",
                            Layout::ChainPacked => "a 4-byte word per site and group of 32 chains",
                            _ => "one bit per site, rows of each colour padded to 32 sites",
                        },
                        human(binding),
                        if layout == Layout::SitePacked {
                            "kernel reference (row-packed over up to four bindings), "
                        } else {
                            ""
                        }
                    )));
                }
                Ok(StatePlan {
                    row_words,
                    groups,
                    chain_words,
                    words,
                    shift: 31,
                    parts: vec![words],
                })
            }
            Layout::RowPacked { part_bytes } => {
                let cap = part_bytes.unwrap_or(binding).min(binding) / 4;
                if cap == 0 {
                    return Err(Error::DeviceLimit(format!(
                        "a state part of {} bytes holds no word",
                        part_bytes.unwrap_or(binding)
                    )));
                }
                let shift = cap.ilog2().min(30);
                let per_part = 1u64 << shift;
                let count = words.div_ceil(per_part);
                if count > MAX_PARTS {
                    return Err(Error::DeviceLimit(format!(
                        "the lattice state needs {} (one bit per site, rows padded to 32 sites) but at most {MAX_PARTS} storage bindings of {} (the adapter's {limit_name}, rounded down to a power of two) are available, {} in all; use fewer chains, a smaller size, or backend cpu",
                        human(bytes),
                        human(4 * per_part),
                        human(4 * per_part * MAX_PARTS)
                    )));
                }
                let parts = (0..count)
                    .map(|k| per_part.min(words - k * per_part))
                    .collect();
                Ok(StatePlan {
                    row_words,
                    groups,
                    chain_words,
                    words,
                    shift,
                    parts,
                })
            }
        }
    }
}

pub(super) fn site_layout(spec: &ChainSpec) -> Result<crate::backend::sites::SiteLayout> {
    crate::backend::sites::SiteLayout::new(spec.model.lattice, spec.chains)
}

/// The state words of chain-major bits (one byte per site) in `layout`.
/// # Errors
/// The site-packed layout of a triangular lattice.
pub(super) fn encode(
    layout: Layout,
    plan: &StatePlan,
    spec: &ChainSpec,
    bits: &[u8],
) -> Result<Vec<u32>> {
    let (chains, n) = (spec.chains as usize, spec.sites());
    Ok(match layout {
        Layout::PerSite => bits.par_iter().map(|&b| (b & 1) as u32).collect(),
        Layout::ChainPacked => crate::backend::packed::pack(bits, chains, n),
        Layout::SitePacked => site_layout(spec)?.pack(bits),
        Layout::RowPacked { .. } => {
            let (l, w) = (spec.model.lattice.size() as usize, plan.row_words as usize);
            let mut words = vec![0u32; plan.words as usize];
            words
                .par_chunks_mut(w)
                .zip(bits.par_chunks(l))
                .for_each(|(row_words, row)| {
                    for (x, &b) in row.iter().enumerate() {
                        row_words[x / 32] |= ((b & 1) as u32) << (x % 32);
                    }
                });
            words
        }
    })
}

/// Inverse of [`encode`].
/// # Errors
/// As [`encode`].
pub(super) fn decode(
    layout: Layout,
    plan: &StatePlan,
    spec: &ChainSpec,
    words: &[u32],
) -> Result<Vec<u8>> {
    let (chains, n) = (spec.chains as usize, spec.sites());
    Ok(match layout {
        Layout::PerSite => words.par_iter().map(|&w| w as u8).collect(),
        Layout::ChainPacked => crate::backend::packed::unpack(words, chains, n),
        Layout::SitePacked => site_layout(spec)?.unpack(words),
        Layout::RowPacked { .. } => {
            let (l, w) = (spec.model.lattice.size() as usize, plan.row_words as usize);
            let mut bits = vec![0u8; chains * n];
            bits.par_chunks_mut(l)
                .zip(words.par_chunks(w))
                .for_each(|(row, row_words)| {
                    for (x, b) in row.iter_mut().enumerate() {
                        *b = ((row_words[x / 32] >> (x % 32)) & 1) as u8;
                    }
                });
            bits
        }
    })
}
