//! The GPU sampler: `shaders/dbm.wgsl` through wgpu, steps recorded into submissions.

use super::cpu::initial;
use super::*;

/// Transposes a `rows × cols` row-major array (chain-major ↔ unit-major).
pub(super) fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols * rows)
        .map(|t| x[(t % rows) * cols + t / rows])
        .collect()
}

/// Uniform block `DbmParams` of dbm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct GpuDbmParams {
    pub(super) sizes: [u32; 4],
    pub(super) flags: [u32; 4],
    pub(super) key: [u32; 4],
    pub(super) bases: [u32; 4],
    pub(super) slots: [u32; SLOTS],
}

/// Uniform block `DbmStep` of dbm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct GpuDbmStep {
    pub(super) sweep: u32,
    pub(super) total_threads: u32,
    pub(super) colour: u32,
    pub(super) pad: u32,
}

/// Most colour classes swept with one dispatch each; beyond this (or with fewer than two
/// units per class on average) the visible-only sweep runs one invocation per chain.
pub const MAX_COLOUR_DISPATCHES: usize = 256;

/// One dispatch of a sweep.
#[derive(Clone, Copy)]
struct SweepKernel {
    /// Index into the entry points.
    kernel: usize,
    total_threads: u32,
    workgroups: (u32, u32),
    colour: u32,
}

pub(super) const DBM_WORKGROUP: u64 = 64;
pub(super) const MAX_DBM_STEPS: usize = 768;

/// The GPU sampler. All unit values live in one buffer, layer after layer
/// (visible, hidden, deep, noise), each unit-major.
pub struct GpuDbmSampler {
    ctx: Arc<GpuContext>,
    spec: DbmSpec,
    sizes: [usize; 3],
    kernels: KernelSet,
    /// The dispatches of a sweep, in order.
    sweep_kernels: Vec<SweepKernel>,
    units: wgpu::Buffer,
    sweep: u32,
    /// How the visible-only sweep runs (empty at other levels).
    kernel: String,
}

impl GpuDbmSampler {
    /// Uploads the model and the initial state and builds the kernels of the level.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] if the level does not exist for this model (or is the
    /// CPU-only softplus model); [`Error::DeviceLimit`] if it does not fit; [`Error::Gpu`].
    pub fn new(ctx: Arc<GpuContext>, model: &Dbm, r: &Recursion, spec: DbmSpec) -> Result<Self> {
        check_level(spec.level, model, r)?;
        if spec.level == Level::VisibleHidden && !model.deep.is_gaussian() {
            return Err(Error::invalid(
                "backend",
                "the softplus-reduced (v, h) model of a bernoulli deep layer runs on the CPU backend only",
            ));
        }
        let c = Coefficients::new(model, r);
        let chains = spec.chains as usize;
        let (nv, nh, ns) = (c.nv, c.nh, c.ns);
        let init = initial(
            &c,
            chains,
            seed_key(spec.seed),
            spec.level != Level::HiddenPrior,
        );
        // one buffer: visible | hidden | deep | noise, each unit-major
        let mut units: Vec<f32> = transpose(&init.visible, chains, nv);
        let bases = [0, chains * nv, chains * (nv + nh), chains * (nv + nh + ns)];
        units.extend(transpose(&init.hidden, chains, nh));
        units.extend(transpose(&init.deep, chains, ns));
        units.resize(bases[3] + chains * nh, 0.0);
        let limit = ctx
            .limits
            .max_storage_buffer_binding_size
            .min(ctx.limits.max_buffer_size);
        for (what, bytes) in [
            ("the model coefficients", 4 * c.values.len() as u64),
            ("the model's sparse structure", 4 * c.index.len() as u64),
            ("the unit values of all chains", 4 * units.len() as u64),
        ] {
            if bytes > limit || bytes > u32::MAX as u64 {
                return Err(Error::DeviceLimit(format!(
                    "{what} need {bytes} bytes but the adapter's max_storage_buffer_binding_size is {limit}; use fewer chains"
                )));
            }
        }
        // invocations: one per group of four units and chain; for the visible-only sweep
        // one per unit of a colour class and chain, or one per chain
        let groups = |n: usize| (n.div_ceil(4) * chains) as u32;
        let colours = c.colours();
        let by_colour = colours <= MAX_COLOUR_DISPATCHES && 2 * colours <= nv;
        let (entry_points, threads): (Vec<&str>, Vec<(usize, u32, u32)>) = match spec.level {
            Level::Full | Level::HiddenPrior => (
                vec!["dbm_hidden", "dbm_outer"],
                vec![(0, groups(nh), 0), (1, groups(nv) + groups(ns), 0)],
            ),
            Level::VisibleHidden => (
                vec!["dbm_noise", "dbm_hidden_reduced", "dbm_outer"],
                vec![(0, groups(nh), 0), (1, groups(nh), 0), (2, groups(nv), 0)],
            ),
            Level::Visible if by_colour => (
                vec!["dbm_visible_colour"],
                (0..colours)
                    .map(|k| {
                        let size = c.colour_classes[k + 1] - c.colour_classes[k];
                        (0, size * chains as u32, k as u32)
                    })
                    .collect(),
            ),
            Level::Visible => (vec!["dbm_visible_pairwise"], vec![(0, chains as u32, 0)]),
        };
        let kernel = match spec.level {
            Level::Visible if by_colour => {
                format!("dbm_visible_colour ({colours} colour classes)")
            }
            Level::Visible => format!("dbm_visible_pairwise ({colours} colour classes in order)"),
            _ => String::new(),
        };
        let params = GpuDbmParams {
            // in the reduced (v, h) model s is integrated out: dbm_outer covers v only
            sizes: [
                nv as u32,
                nh as u32,
                if spec.level == Level::VisibleHidden {
                    0
                } else {
                    ns as u32
                },
                spec.chains,
            ],
            flags: [
                c.spin as u32,
                c.hidden_gaussian as u32,
                c.deep_gaussian as u32,
                (spec.level != Level::HiddenPrior) as u32,
            ],
            key: {
                let k = seed_key(spec.seed);
                [k[0], k[1], 0, 0]
            },
            bases: bases.map(|b| b as u32),
            slots: c.slots,
        };
        let device = &ctx.device;
        let init_buffer = |label, contents: &[u8], usage| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage,
            })
        };
        let coef = init_buffer(
            "dbm coefficients",
            bytemuck::cast_slice(&c.values),
            wgpu::BufferUsages::STORAGE,
        );
        let index = init_buffer(
            "dbm sparse structure",
            bytemuck::cast_slice(&c.index),
            wgpu::BufferUsages::STORAGE,
        );
        let units = init_buffer(
            "dbm units",
            bytemuck::cast_slice(&units),
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        );
        let kernels = KernelSet::new(
            &ctx,
            &crate::shaders::DBM_SAMPLER,
            &entry_points,
            bytemuck::bytes_of(&params),
            size_of::<GpuDbmStep>() as u64,
            MAX_DBM_STEPS,
            &[(&coef, true), (&index, true), (&units, false)],
        )?;
        let sweep_kernels = threads
            .iter()
            .map(|&(kernel, total_threads, colour)| {
                Ok(SweepKernel {
                    kernel,
                    total_threads,
                    workgroups: ctx.grid((total_threads as u64).div_ceil(DBM_WORKGROUP))?,
                    colour,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        ctx.wait()?;
        Ok(GpuDbmSampler {
            ctx,
            spec,
            sizes: [nv, nh, ns],
            kernels,
            sweep_kernels,
            units,
            sweep: 0,
            kernel,
        })
    }
}

impl DbmSampler for GpuDbmSampler {
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: "gpu".into(),
            adapter: self.ctx.adapter_name.clone(),
            api: self.ctx.api.clone(),
            kernel: self.kernel.clone(),
        }
    }

    fn advance(&mut self, sweeps: u32) -> Result<()> {
        let per_sweep = self.sweep_kernels.len();
        let per_submit = (self.kernels.capacity() / per_sweep) as u32;
        let mut done = 0;
        while done < sweeps {
            crate::interrupt::check()?;
            let n = (sweeps - done).min(per_submit);
            let first = self.sweep + done;
            let kernels = &self.sweep_kernels;
            let steps: Vec<GpuDbmStep> = (0..n)
                .flat_map(|i| {
                    kernels.iter().map(move |k| GpuDbmStep {
                        sweep: first + i,
                        total_threads: k.total_threads,
                        colour: k.colour,
                        pad: 0,
                    })
                })
                .collect();
            let dispatches: Vec<Dispatch> = steps
                .iter()
                .enumerate()
                .map(|(i, step)| {
                    let k = &kernels[i % per_sweep];
                    Dispatch {
                        kernel: k.kernel,
                        step: bytemuck::bytes_of(step),
                        workgroups: k.workgroups,
                    }
                })
                .collect();
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            self.kernels.record(&self.ctx, &mut enc, &dispatches);
            self.ctx.queue.submit([enc.finish()]);
            self.ctx.wait()?;
            done += n;
        }
        self.sweep += sweeps;
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let chains = self.spec.chains as usize;
        let [nv, nh, ns] = self.sizes;
        let layers = chains * (nv + nh + ns);
        let bytes = self.ctx.read_buffer(&self.units, 4 * layers as u64)?;
        let all: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (v, rest) = all.split_at(chains * nv);
        let (h, s) = rest.split_at(chains * nh);
        let deep = if self.spec.level == Level::VisibleHidden {
            Vec::new()
        } else {
            transpose(s, ns, chains)
        };
        Ok(Snapshot {
            visible: transpose(v, nv, chains),
            hidden: transpose(h, nh, chains),
            deep,
        })
    }
}
